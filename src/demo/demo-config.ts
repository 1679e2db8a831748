import { demoModelName } from './demo-model-server.ts';
import { demoToolsetName } from './demo-toolset.ts';

/**
 * The config layer of the offline demo: the default route (named `default`, made the default) points at
 * the demo model server at `baseURL`, and children get the `demo` toolset. The server ignores API keys;
 * `BATON_DEMO_KEY` is normally unset, so the client sends a placeholder.
 */
export function demoConfigLayer(baseURL: string): Record<string, unknown> {
  return {
    models: {
      default_route: 'default',
      routes: { default: { model: demoModelName, base_url: baseURL, api_key_env: ['BATON_DEMO_KEY'] } },
    },
    delegation: { default_toolsets: [demoToolsetName], default_route: null },
  };
}
