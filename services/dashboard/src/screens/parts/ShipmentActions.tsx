// Actions on selected shipments: draw waybills and ship (one call each, one answer per
// shipment), and print labels as a batch (queued, polled for progress, then the PDF).
import { useEffect, useState } from 'react';
import { useQueryClient } from '@tanstack/react-query';
import { api, call } from '../../api/client';
import { useI18n } from '../../i18n';
import { PdfView } from '../../ui/PdfView';
import { Badge, Button, Dialog, ErrorText, Field, label } from '../../ui/components';
import {
  LABEL_SIZES,
  LABEL_SORTS,
  OK_OUTCOMES,
  OUTCOME_TONES,
  refreshShipments,
  shortId,
  type LabelBatch,
  type LabelSize,
  type LabelSort,
  type Shipment,
  type ShipmentResult,
} from '../../shipping';
import { ShipmentStatusBadge, Trades } from './ShipmentBits';

export type BulkKind = 'draw' | 'ship';

/** One shipment's answer: the outcome, its waybill, and the server's reason when refused. */
export function OutcomeCell({ result }: { result: ShipmentResult }) {
  const { t } = useI18n();
  return (
    <div className="outcome" data-outcome={result.outcome}>
      <Badge tone={OUTCOME_TONES[result.outcome] ?? 'neutral'}>{label(t, 'outcome', result.outcome)}</Badge>
      {result.waybill_code && <span className="mono small">{result.waybill_code}</span>}
      {result.detail && <div className="small muted outcome-detail">{result.detail}</div>}
    </div>
  );
}

export function BulkDialog({
  kind,
  shipments,
  open,
  onClose,
}: {
  kind: BulkKind;
  shipments: Shipment[];
  open: boolean;
  /** The ids that ended where the action meant them to. */
  onClose: (done: string[]) => void;
}) {
  const { t } = useI18n();
  const qc = useQueryClient();
  const [results, setResults] = useState<Record<string, ShipmentResult>>({});
  const [error, setError] = useState<unknown>(null);
  const [running, setRunning] = useState(false);
  const answered = Object.keys(results).length > 0;
  const todo = shipments.filter((s) => !OK_OUTCOMES.has(results[s.id]?.outcome ?? ''));

  const submit = async () => {
    setRunning(true);
    setError(null);
    const ids = todo.map((s) => s.id);
    try {
      const r =
        kind === 'draw'
          ? await call(api.POST('/v1/shipments/waybills', { body: { shipment_ids: ids } }))
          : await call(api.POST('/v1/shipments/ship', { body: { ids } }));
      setResults((x) => ({ ...x, ...Object.fromEntries(r.results.map((one) => [one.id, one])) }));
    } catch (e) {
      setError(e);
    } finally {
      setRunning(false);
      refreshShipments(qc, ids);
    }
  };
  const close = () => {
    const done = Object.values(results)
      .filter((r) => OK_OUTCOMES.has(r.outcome))
      .map((r) => r.id);
    setResults({});
    setError(null);
    onClose(done);
  };
  const all = Object.values(results);
  const ok = all.filter((r) => OK_OUTCOMES.has(r.outcome)).length;
  const p = kind === 'draw' ? 'draw' : 'sship';

  return (
    <Dialog
      open={open}
      onClose={close}
      wide
      testId={`${kind}-dialog`}
      title={t(kind === 'draw' ? 'draw.title' : 'sship.title', { n: shipments.length })}
      footer={
        <>
          {answered && (
            <span className="muted small" data-testid={`${kind}-summary`}>
              {t('draw.summary', { ok, fail: all.length - ok })}
            </span>
          )}
          <span className="grow" />
          <Button onClick={close} disabled={running} data-testid={`${kind}-close`}>
            {answered ? t('common.close') : t('common.cancel')}
          </Button>
          {todo.length > 0 && (
            <Button
              variant="primary"
              icon={kind === 'draw' ? 'file' : 'truck'}
              busy={running}
              onClick={() => void submit()}
              data-testid={`${kind}-submit`}
            >
              {answered ? t('draw.retry', { n: todo.length }) : t(kind === 'draw' ? 'draw.submit' : 'sship.submit', { n: todo.length })}
            </Button>
          )}
        </>
      }
    >
      <p className="muted small dialog-lead">{t(kind === 'draw' ? 'draw.hint' : 'sship.hint')}</p>
      {error !== null && <ErrorText error={error} />}
      <div className="table-scroll">
        <table className="table table-compact">
          <thead>
            <tr>
              <th>{t('shipping.shipment')}</th>
              <th>{t('shipping.trades')}</th>
              <th>{t('shipping.receiver')}</th>
              {!answered && <th>{t('shipping.status')}</th>}
              <th>{t(`${p}.result` as 'draw.result')}</th>
            </tr>
          </thead>
          <tbody>
            {shipments.map((s) => {
              const r = results[s.id];
              return (
                <tr key={s.id} data-shipment={s.id}>
                  <td className="mono small">{shortId(s.id)}</td>
                  <td>
                    <Trades shipment={s} links={false} />
                  </td>
                  <td className="ellipsis max-w-140">{s.receiver.name}</td>
                  {!answered && (
                    <td>
                      <ShipmentStatusBadge status={s.status} />
                    </td>
                  )}
                  <td data-testid={`${kind}-result-${s.id}`}>
                    {r ? <OutcomeCell result={r} /> : running ? <span className="spinner" /> : null}
                  </td>
                </tr>
              );
            })}
          </tbody>
        </table>
      </div>
    </Dialog>
  );
}

const POLL_MS = 600;

/** Prints the selected shipments that have a waybill as one batch, sorted for picking. */
export function PrintDialog({ shipments, open, onClose }: { shipments: Shipment[]; open: boolean; onClose: () => void }) {
  const { t } = useI18n();
  const qc = useQueryClient();
  const [sort, setSort] = useState<LabelSort>('route');
  const [size, setSize] = useState<LabelSize>('100x180');
  const [batch, setBatch] = useState<LabelBatch | null>(null);
  const [error, setError] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);
  const printable = shipments.filter((s) => s.waybill);
  const left = shipments.length - printable.length;

  // Poll the batch until it is done or failed.
  const batchId = batch?.id;
  const finished = batch?.status === 'done' || batch?.status === 'failed';
  useEffect(() => {
    if (!batchId || finished) return;
    let live = true;
    const h = setTimeout(async () => {
      try {
        const b = await call(api.GET('/v1/label-batches/{id}', { params: { path: { id: batchId } } }));
        if (live) setBatch(b);
        if (b.status === 'done') refreshShipments(qc, b.shipment_ids);
      } catch (e) {
        if (live) setError(e);
      }
    }, POLL_MS);
    return () => {
      live = false;
      clearTimeout(h);
    };
  }, [batchId, batch, finished, qc]);

  const submit = async () => {
    setBusy(true);
    setError(null);
    try {
      const b = await call(api.POST('/v1/label-batches', { body: { shipment_ids: printable.map((s) => s.id), sort, size } }));
      setBatch(b);
    } catch (e) {
      setError(e);
    } finally {
      setBusy(false);
    }
  };
  const close = () => {
    setBatch(null);
    setError(null);
    onClose();
  };
  const pct = batch && batch.total > 0 ? Math.round((batch.done / batch.total) * 100) : 0;

  return (
    <Dialog
      open={open}
      onClose={close}
      wide
      drawer={!!batch?.pdf_url}
      testId="print-dialog"
      title={t('print.title', { n: printable.length })}
      footer={
        <>
          <span className="grow" />
          <Button onClick={close} data-testid="print-close">
            {batch ? t('common.close') : t('common.cancel')}
          </Button>
          {!batch && (
            <Button
              variant="primary"
              icon="file"
              busy={busy}
              disabled={printable.length === 0}
              onClick={() => void submit()}
              data-testid="print-submit"
            >
              {t('print.submit', { n: printable.length })}
            </Button>
          )}
        </>
      }
    >
      {!batch && (
        <div className="stack">
          {left > 0 && (
            <div className="notice notice-amber" data-testid="print-left-out">
              {t('print.left_out', { n: left })}
            </div>
          )}
          <Field label={t('print.sort')}>
            {() => (
              <div className="seg seg-lg" role="radiogroup" aria-label={t('print.sort')}>
                {LABEL_SORTS.map((s) => (
                  <button
                    key={s}
                    type="button"
                    role="radio"
                    aria-checked={sort === s}
                    className={sort === s ? 'is-active' : undefined}
                    onClick={() => setSort(s)}
                    data-sort={s}
                  >
                    {t(`print.sort_${s}`)}
                  </button>
                ))}
              </div>
            )}
          </Field>
          <div className="field-hint">{t(`print.sort_${sort}_hint`)}</div>
          <Field label={t('print.size')}>
            {() => (
              <div className="seg seg-lg" role="radiogroup" aria-label={t('print.size')}>
                {LABEL_SIZES.map((s) => (
                  <button
                    key={s}
                    type="button"
                    role="radio"
                    aria-checked={size === s}
                    className={size === s ? 'is-active' : undefined}
                    onClick={() => setSize(s)}
                    data-size={s}
                  >
                    {t(`print.size_${s}`)}
                  </button>
                ))}
              </div>
            )}
          </Field>
        </div>
      )}
      {error !== null && <ErrorText error={error} />}
      {batch && (
        <div className="stack" data-testid="print-batch" data-batch={batch.id} data-status={batch.status}>
          <div className="batch-progress">
            <div className="batch-progress-head">
              <span>{label(t, 'batch_status', batch.status)}</span>
              <span className="mono" data-testid="batch-count">
                {batch.done}/{batch.total} · {pct}%
              </span>
            </div>
            <progress
              className="progress"
              max={batch.total || 1}
              value={batch.done}
              data-testid="batch-progress"
              data-done={batch.done}
              data-total={batch.total}
              aria-label={t('print.progress')}
            />
          </div>
          {batch.error && <div className="notice notice-amber">{batch.error}</div>}
          {batch.status === 'failed' && <ErrorText error={describeFailed(batch)} />}
          {batch.pdf_url && (
            <>
              <div className="muted small" data-testid="batch-pages">
                {t('print.done', { pages: batch.pages, n: batch.total })}
              </div>
              <PdfView
                url={batch.pdf_url}
                title={t('print.pdf')}
                fallbackName={`labels-${batch.id}.pdf`}
                testId="batch-pdf"
                className="pdf-tall"
              />
            </>
          )}
        </div>
      )}
    </Dialog>
  );
}

function describeFailed(b: LabelBatch): Error {
  return new Error(b.error ?? b.status);
}
