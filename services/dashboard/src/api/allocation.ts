// GET/PUT /v1/inventory/allocation — multi-warehouse allocation settings (issue 14, item 4).
// The route is being built on another branch and is NOT in openapi/cairn.yaml yet: these types
// are the planned shape, kept here alone so that adjusting them to the published spec is one
// small change (then delete this file's path type and use `components['schemas'][…]`).
import type { components } from './schema';

type S = components['schemas'];
type Json<T> = { headers: { [name: string]: unknown }; content: { 'application/json': T } };
type Problem = { headers: { [name: string]: unknown }; content: { 'application/problem+json': S['ProblemBody'] } };
type Errors = { 400: Problem; 401: Problem; 404: Problem; 422: Problem; 500: Problem };

export type AllocationStrategy = 'priority' | 'most_stock' | 'region';
export const STRATEGIES: readonly AllocationStrategy[] = ['priority', 'most_stock', 'region'];

export interface RegionRule {
  /** A province as receivers write it, e.g. `浙江省`. */
  province: string;
  /** Warehouse codes, tried in order. */
  warehouses: string[];
}

export interface AllocationSettings {
  strategy: AllocationStrategy;
  /** `priority`: warehouse codes, tried in order. */
  priority: string[];
  /** `region`: each province's warehouses. */
  regions: RegionRule[];
  /** `region`: for provinces not listed, or when theirs cannot serve. */
  fallback: string[];
  /** A line, or an order's lines, may come from several warehouses. */
  allow_split: boolean;
}

type NoParams = { query?: never; header?: never; path?: never; cookie?: never };

export interface AllocationPaths {
  '/v1/inventory/allocation': {
    parameters: NoParams;
    get: { parameters: NoParams; requestBody?: never; responses: { 200: Json<AllocationSettings> } & Errors };
    put: {
      parameters: NoParams;
      requestBody: { content: { 'application/json': AllocationSettings } };
      responses: { 200: Json<AllocationSettings> } & Errors;
    };
  };
}

/** Provinces (省级行政区) for the region picker. */
export const PROVINCES = [
  '北京市',
  '天津市',
  '上海市',
  '重庆市',
  '河北省',
  '山西省',
  '辽宁省',
  '吉林省',
  '黑龙江省',
  '江苏省',
  '浙江省',
  '安徽省',
  '福建省',
  '江西省',
  '山东省',
  '河南省',
  '湖北省',
  '湖南省',
  '广东省',
  '海南省',
  '四川省',
  '贵州省',
  '云南省',
  '陕西省',
  '甘肃省',
  '青海省',
  '台湾省',
  '内蒙古自治区',
  '广西壮族自治区',
  '西藏自治区',
  '宁夏回族自治区',
  '新疆维吾尔自治区',
  '香港特别行政区',
  '澳门特别行政区',
] as const;
