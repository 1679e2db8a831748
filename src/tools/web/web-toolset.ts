import type { BatonConfig } from '../../config/schema.ts';
import type { Tool } from '../tool.ts';
import { createFetchUrlTool } from './fetch-url.ts';

/** The `web` toolset: reading pages from the internet. */
export function createWebToolset(config: BatonConfig['tools']): Tool[] {
  return [createFetchUrlTool(config.fetch_url)];
}
