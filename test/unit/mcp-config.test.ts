import { mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/load-config.ts';
import { redactSecrets } from '../../src/logging/redact-secrets.ts';

/** Loads `yaml` as the BATON_CONFIG file with `env`. */
function loadYaml(yaml: string, env: NodeJS.ProcessEnv = {}) {
  const file = path.join(mkdtempSync(path.join(os.tmpdir(), 'baton-mcp-config-')), 'baton.yaml');
  writeFileSync(file, yaml);
  return loadConfig({ env: { ...env, BATON_CONFIG: file } });
}

describe('mcp_servers config', () => {
  it('takes stdio and Streamable HTTP servers with their defaults; header ${ENV} values expand and are redacted', () => {
    const config = loadYaml(
      [
        'mcp_servers:',
        '  tracker:',
        '    command: node',
        '    args: [tracker.js]',
        '    env: [TRACKER_TOKEN, PATH]',
        '  dashboards:',
        '    url: https://mcp.example.internal/mcp',
        '    headers: {Authorization: "Bearer ${DASHBOARDS_TOKEN}"}',
        '    tools: [search]',
        '    approval: [delete]',
      ].join('\n'),
      {
        DASHBOARDS_TOKEN: 'dashboards-secret-0123456789',
        TRACKER_TOKEN: 'tracker-secret-0123456789',
        PATH: '/usr/local/bin:/usr/bin',
      },
    );
    expect(config.mcp_servers.tracker).toEqual({
      command: 'node',
      args: ['tracker.js'],
      cwd: null,
      env: ['TRACKER_TOKEN', 'PATH'],
      tools: null,
      timeout_s: 60,
      approval: [],
    });
    expect(config.mcp_servers.dashboards).toEqual({
      url: 'https://mcp.example.internal/mcp',
      headers: { Authorization: 'Bearer dashboards-secret-0123456789' },
      tools: ['search'],
      timeout_s: 60,
      approval: ['delete'],
    });
    const line =
      'sent dashboards-secret-0123456789 and tracker-secret-0123456789 from /usr/local/bin:/usr/bin';
    expect(redactSecrets(line)).not.toContain('dashboards-secret-0123456789');
    expect(redactSecrets(line)).not.toContain('tracker-secret-0123456789');
    // A location given to a server is not a credential: paths stay readable in logs.
    expect(redactSecrets(line)).toContain('/usr/local/bin:/usr/bin');
  });

  it('refuses a bad server name, a server with neither command nor url, and an env entry that is no name', () => {
    for (const yaml of [
      'mcp_servers:\n  "has space": {command: node}',
      'mcp_servers:\n  empty: {args: [x]}',
      'mcp_servers:\n  bad_env: {command: node, env: ["A=B"]}',
      'mcp_servers:\n  not_http: {url: "ftp://example.com/mcp"}',
    ]) {
      expect(() => loadYaml(yaml), yaml).toThrow(/mcp_servers/);
    }
    expect(() => loadYaml('mcp_servers:\n  empty: {args: [x]}')).toThrow(
      'mcp_servers.empty: either a stdio server (command, args?, cwd?, env?) or a Streamable HTTP server',
    );
  });
});
