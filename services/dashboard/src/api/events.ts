// The tenant's live event stream, `GET /v1/events/stream` (server-sent events). EventSource
// cannot send an Authorization header, so this reads the stream with fetch and parses it.
import { endSession, getToken } from '../auth/session';

/** One event as the stream sends it in `data:`. Payloads follow shared/kernel/src/events.rs. */
export interface StreamEvent {
  id: string;
  type: string;
  occurred_at: string;
  payload: unknown;
}

export interface OrderChangedPayload {
  order_id: string;
  channel_id: string;
  external_id: string;
  status: string;
  created_at: string;
  paid_at: string | null;
  payment?: string;
  buyer_nick?: string;
}
export interface OrderShippedPayload {
  order_id: string;
  channel_id: string;
  external_id: string;
  company_code: string;
  waybill_no: string;
}
export interface StockLevelChangedPayload {
  sku_code: string;
  available: number;
  on_hand: number;
  reserved: number;
  version: number;
}
export interface ReservationChangedPayload {
  reservation_id: string;
  order_id: string | null;
  lines: { line_ref: string; sku_code: string; quantity: number; state: string }[];
}
export interface TradeReceivedPayload {
  channel_id: string;
  shop_id: string;
  topic: string;
}

/** connecting → live; reconnecting after a drop; unavailable when the server has no stream. */
export type LiveState = 'off' | 'connecting' | 'live' | 'reconnecting' | 'unavailable';

type Handler = (e: StreamEvent) => void;

const URL_PATH = '/v1/events/stream';
/** Keepalives come every ~15 s; three missed means the connection is dead. */
const STALL_MS = 45_000;
/** How often to look again for a stream on a server that had none. */
const PROBE_MS = 120_000;

export class EventStream {
  private handlers = new Set<Handler>();
  private stateListeners = new Set<() => void>();
  private _state: LiveState = 'off';
  private lastId: string | null = null;
  private abort: AbortController | null = null;
  private timer: ReturnType<typeof setTimeout> | undefined;
  private attempt = 0;
  private running = false;

  get state(): LiveState {
    return this._state;
  }

  onEvent(h: Handler): () => void {
    this.handlers.add(h);
    return () => this.handlers.delete(h);
  }

  onState(l: () => void): () => void {
    this.stateListeners.add(l);
    return () => this.stateListeners.delete(l);
  }

  start() {
    if (this.running) return;
    this.running = true;
    this.attempt = 0;
    void this.connect();
  }

  stop() {
    this.running = false;
    clearTimeout(this.timer);
    this.abort?.abort();
    this.abort = null;
    this.lastId = null;
    this.setState('off');
  }

  private setState(s: LiveState) {
    if (s === this._state) return;
    this._state = s;
    for (const l of this.stateListeners) l();
  }

  private schedule(ms: number) {
    clearTimeout(this.timer);
    this.timer = setTimeout(() => void this.connect(), ms);
  }

  private backoff(): number {
    const base = Math.min(30_000, 1000 * 2 ** Math.min(this.attempt, 5));
    this.attempt += 1;
    return base / 2 + Math.random() * (base / 2);
  }

  private async connect() {
    if (!this.running) return;
    const token = getToken();
    if (!token) return this.stop();
    this.setState(this._state === 'live' || this.attempt > 0 ? 'reconnecting' : 'connecting');
    const ctl = new AbortController();
    this.abort = ctl;
    const headers: Record<string, string> = { Authorization: `Bearer ${token}`, Accept: 'text/event-stream' };
    if (this.lastId) headers['Last-Event-ID'] = this.lastId;
    let res: Response;
    try {
      res = await fetch(URL_PATH, { headers, signal: ctl.signal, cache: 'no-store' });
    } catch {
      if (!this.running || ctl.signal.aborted) return;
      return this.schedule(this.backoff());
    }
    if (res.status === 401) {
      endSession('expired');
      return this.stop();
    }
    if (res.status === 404 || res.status === 405 || res.status === 400) {
      // Today's server has no stream: say so, and look again now and then.
      this.setState('unavailable');
      return this.schedule(PROBE_MS);
    }
    if (!res.ok || !res.body || !(res.headers.get('content-type') ?? '').includes('text/event-stream')) {
      return this.schedule(this.backoff());
    }
    this.setState('live');
    this.attempt = 0;
    await this.read(res.body, ctl);
    // Dropped by the server or by the stall watchdog (not by stop()): reconnect with Last-Event-ID.
    if (this.running && this.abort === ctl) {
      this.setState('reconnecting');
      this.schedule(this.backoff());
    }
  }

  private async read(body: ReadableStream<Uint8Array>, ctl: AbortController) {
    const reader = body.getReader();
    const decoder = new TextDecoder();
    let buf = '';
    let data: string[] = [];
    let type = '';
    let id: string | null = null;
    let stall: ReturnType<typeof setTimeout> | undefined;
    const armStall = () => {
      clearTimeout(stall);
      stall = setTimeout(() => ctl.abort(), STALL_MS);
    };
    armStall();
    try {
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        armStall();
        buf += decoder.decode(value, { stream: true });
        let nl: number;
        while ((nl = buf.search(/\r\n|\r|\n/)) >= 0) {
          const line = buf.slice(0, nl);
          buf = buf.slice(buf[nl] === '\r' && buf[nl + 1] === '\n' ? nl + 2 : nl + 1);
          if (line === '') {
            if (id !== null) this.lastId = id;
            if (data.length) this.dispatch(type, data.join('\n'), id);
            data = [];
            type = '';
            id = null;
            continue;
          }
          if (line.startsWith(':')) continue; // keepalive comment
          const colon = line.indexOf(':');
          const field = colon < 0 ? line : line.slice(0, colon);
          let v = colon < 0 ? '' : line.slice(colon + 1);
          if (v.startsWith(' ')) v = v.slice(1);
          if (field === 'data') data.push(v);
          else if (field === 'event') type = v;
          else if (field === 'id' && !v.includes('\0')) id = v;
        }
      }
    } catch {
      /* aborted or dropped: the caller reconnects */
    } finally {
      clearTimeout(stall);
    }
  }

  private dispatch(type: string, raw: string, id: string | null) {
    let ev: StreamEvent;
    try {
      const parsed = JSON.parse(raw) as Partial<StreamEvent>;
      ev = {
        id: parsed.id ?? id ?? '',
        type: parsed.type ?? type,
        occurred_at: parsed.occurred_at ?? new Date().toISOString(),
        payload: parsed.payload ?? null,
      };
    } catch {
      return;
    }
    for (const h of this.handlers) {
      try {
        h(ev);
      } catch (e) {
        console.error('event handler failed', e);
      }
    }
  }
}

export const eventStream = new EventStream();
