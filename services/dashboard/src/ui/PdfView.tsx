// A PDF fetched with the token and shown from a blob: URL in an <iframe> (the CSP allows
// frame-src blob:), with a download link for the same blob.
import { useEffect, useState } from 'react';
import { fetchBlob } from '../api/client';
import { useI18n } from '../i18n';
import { ErrorState, LoadingBlock } from './components';
import { Icon } from './icons';

export function PdfView({
  url,
  title,
  fallbackName,
  testId,
  onLoaded,
  className,
}: {
  /** Same-origin path of the PDF; a new value fetches again. */
  url: string;
  title: string;
  fallbackName: string;
  testId?: string;
  onLoaded?: (blob: Blob) => void;
  className?: string;
}) {
  const { t } = useI18n();
  const [state, setState] = useState<{ url: string | null; error: unknown; filename: string | null }>({
    url: null,
    error: null,
    filename: null,
  });
  const [attempt, setAttempt] = useState(0);
  useEffect(() => {
    let blobUrl: string | null = null;
    let live = true;
    setState({ url: null, error: null, filename: null });
    fetchBlob(url)
      .then(({ blob, filename }) => {
        const pdf = new Blob([blob], { type: 'application/pdf' });
        blobUrl = URL.createObjectURL(pdf);
        if (live) {
          setState({ url: blobUrl, error: null, filename });
          onLoaded?.(pdf);
        }
      })
      .catch((e: unknown) => live && setState({ url: null, error: e, filename: null }));
    return () => {
      live = false;
      if (blobUrl) URL.revokeObjectURL(blobUrl);
    };
    // onLoaded is a notification, not an input.
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [url, attempt]);
  if (state.error) return <ErrorState error={state.error} onRetry={() => setAttempt((n) => n + 1)} />;
  if (!state.url) return <LoadingBlock text={t('pdf.loading')} />;
  return (
    <div className={className ? `pdf ${className}` : 'pdf'}>
      <iframe src={state.url} title={title} className="pdf-frame" data-testid={testId} />
      <a
        href={state.url}
        download={state.filename ?? fallbackName}
        className="btn btn-secondary btn-sm pdf-download"
        data-testid={testId ? `${testId}-download` : undefined}
      >
        <Icon name="download" size={14} /> {t('pdf.download')}
      </a>
    </div>
  );
}
