// Per-order results of an action on several orders (ship, hold, release): each order says
// how it went, with the server's own words when it was refused.
import { useI18n, type MsgKey } from '../i18n';
import { Badge, describeError } from './components';

export type RowResult = { ok: true; text: string } | { ok: false; title: string; detail: string; code: string };

/** A refused row from an error the API threw. */
export function failed(t: ReturnType<typeof useI18n>['t'], e: unknown): RowResult {
  const d = describeError(t, e);
  return { ok: false, title: d.title, detail: d.detail, code: d.code };
}

export function ResultCell({ result, running }: { result: RowResult | undefined; running: boolean }) {
  if (!result) return running ? <span className="spinner" /> : null;
  if (result.ok) return <Badge tone="green">{result.text}</Badge>;
  return (
    <div className="error-inline" title={result.detail} data-code={result.code}>
      <Badge tone="red">{result.title}</Badge>
      {result.detail && <div className="small muted">{result.detail}</div>}
    </div>
  );
}

/** "3 done, 1 failed" under a results table. */
export function ResultSummary({ results, msg, testId }: { results: Record<string, RowResult>; msg: MsgKey; testId: string }) {
  const { t } = useI18n();
  const all = Object.values(results);
  const ok = all.filter((r) => r.ok).length;
  return (
    <span className="muted small" data-testid={testId}>
      {t(msg, { ok, fail: all.length - ok })}
    </span>
  );
}
