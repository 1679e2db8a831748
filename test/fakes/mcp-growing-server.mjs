// A small stdio MCP server built with the official SDK whose tool list grows: calling `grow` registers a
// new tool `grown_<n>`, and the SDK then sends notifications/tools/list_changed, as a real server whose
// tools change at run time would. Calling `freeze` hangs it for good (a busy loop: not even a ping is
// answered), as a wedged server would.
import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { StdioServerTransport } from '@modelcontextprotocol/sdk/server/stdio.js';

const server = new McpServer(
  { name: 'growing', version: '1.0.0' },
  { capabilities: { tools: { listChanged: true } } },
);
let grown = 0;
server.registerTool('grow', { description: 'Adds one more tool to this server.' }, async () => {
  grown += 1;
  const name = `grown_${grown}`;
  server.registerTool(name, { description: `Tool number ${grown}, added at run time.` }, async () => ({
    content: [{ type: 'text', text: `${name} ran` }],
  }));
  return { content: [{ type: 'text', text: `added ${name}` }] };
});
server.registerTool('freeze', { description: 'Hangs this server for good.' }, async () => {
  while (true) {
    // Busy: the event loop never turns again.
  }
});
await server.connect(new StdioServerTransport());
