// Routes the lead is adding to the server, typed from their agreed contracts until
// `openapi/cairn.yaml` publishes them (then `npm run gen:api` brings them in and the matching
// entries here are deleted). The app treats each as optional: when today's server answers
// "no such route" the screen falls back or explains what is missing (see `routeMissing`).
import type { components } from './schema';

type S = components['schemas'];

type Json<T> = { headers: { [name: string]: unknown }; content: { 'application/json': T } };
type Problem = { headers: { [name: string]: unknown }; content: { 'application/problem+json': S['ProblemBody'] } };
type Errors = { 400: Problem; 401: Problem; 404: Problem; 500: Problem };

/** Counts by order status; keys are OrderDto.status values. */
export type ByStatus = Partial<Record<OrderStatus, number>>;

export type OrderStatus =
  'pending_payment' | 'paid' | 'allocated' | 'backordered' | 'on_hold' | 'partially_shipped' | 'shipped' | 'completed' | 'cancelled';

export interface OrderStats {
  since: string;
  total: number;
  by_status: ByStatus;
  buckets: { start: string; orders: number }[];
}

export interface OrderCounts {
  total: number;
  by_status: ByStatus;
}

/** The filters `GET /v1/orders` and `GET /v1/orders/counts` gain. */
export interface OrderFilters {
  channel_id?: string;
  created_from?: string;
  created_to?: string;
  buyer?: string;
  sku_code?: string;
  external_id?: string;
}

export interface StockItem {
  sku_code: string;
  name: string;
  on_hand: number;
  reserved: number;
  safety_stock: number;
  available: number;
  low: boolean;
  warehouses: { warehouse_code: string; on_hand: number; reserved: number }[];
}

/** Published now (`POST /v1/channels/{id}/stock-sync/preview`); kept as a name for the screen. */
export type StockSyncPreview = S['StockPreview'];

export interface PlannedPaths {
  '/v1/orders': {
    parameters: { query?: never; header?: never; path?: never; cookie?: never };
    get: {
      parameters: {
        query?: OrderFilters & { status?: string; page?: number; per_page?: number; limit?: number; cursor?: string };
        header?: never;
        path?: never;
        cookie?: never;
      };
      requestBody?: never;
      responses: { 200: Json<S['OrderPage'] & { next_cursor?: string | null }> } & Errors;
    };
  };
  '/v1/orders/stats': {
    parameters: { query?: never; header?: never; path?: never; cookie?: never };
    get: {
      parameters: { query: { since: string; bucket_seconds?: number }; header?: never; path?: never; cookie?: never };
      requestBody?: never;
      responses: { 200: Json<OrderStats> } & Errors;
    };
  };
  '/v1/orders/counts': {
    parameters: { query?: never; header?: never; path?: never; cookie?: never };
    get: {
      parameters: { query?: OrderFilters; header?: never; path?: never; cookie?: never };
      requestBody?: never;
      responses: { 200: Json<OrderCounts> } & Errors;
    };
  };
  '/v1/stock': {
    parameters: { query?: never; header?: never; path?: never; cookie?: never };
    get: {
      parameters: { query?: { low?: boolean; q?: string }; header?: never; path?: never; cookie?: never };
      requestBody?: never;
      responses: { 200: Json<{ items: StockItem[] }> } & Errors;
    };
  };
}
