import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import { BatonError } from '../../errors.ts';
import { cutText } from '../../text/cut-text.ts';

/** Longest text of an embedded resource handed to the model; the whole result is capped again by the loop. */
const maxResourceTextChars = 20_000;

/** A resource a tool pointed to or embedded, as the model sees it: a link, with text when it is short. */
interface ResourceView {
  uri: string;
  name?: string;
  mimeType?: string;
  description?: string;
  text?: string;
  note?: string;
}

/**
 * A tool's result as the model sees it: its text, its structured content, images and audio as a short note
 * (the model gets no pixels through a tool result), resources as links. A result the server marked as an
 * error becomes a tool error. The agent loop caps the whole of it like every tool's result.
 */
export function toModelResult(result: CallToolResult): Record<string, unknown> {
  const texts: string[] = [];
  const notes: string[] = [];
  const resources: ResourceView[] = [];
  for (const block of result.content ?? []) {
    switch (block.type) {
      case 'text':
        texts.push(block.text);
        break;
      case 'image':
      case 'audio':
        notes.push(`${block.type} (${block.mimeType}, ${base64Bytes(block.data)} bytes) not shown`);
        break;
      case 'resource_link':
        resources.push({
          uri: block.uri,
          ...(block.name ? { name: block.name } : {}),
          ...(block.mimeType ? { mimeType: block.mimeType } : {}),
          ...(block.description ? { description: block.description } : {}),
        });
        break;
      case 'resource': {
        const { resource } = block;
        resources.push({
          uri: resource.uri,
          ...(resource.mimeType ? { mimeType: resource.mimeType } : {}),
          ...('text' in resource
            ? { text: cutText(resource.text, maxResourceTextChars, { marker: '… [cut]' }) }
            : { note: `binary content (${base64Bytes(resource.blob)} bytes) not shown` }),
        });
        break;
      }
      default:
        notes.push(`a ${(block as { type: string }).type} block not shown`);
    }
  }
  const text = texts.join('\n\n');
  if (result.isError) {
    throw new BatonError(
      'mcp_tool_error',
      text.trim() || 'the tool reported an error and said nothing more',
      {
        fault: 'model',
      },
    );
  }
  return {
    ...(texts.length > 0 ? { text } : {}),
    ...(result.structuredContent ? { structured: result.structuredContent } : {}),
    ...(resources.length > 0 ? { resources } : {}),
    ...(notes.length > 0 ? { notes } : {}),
  };
}

function base64Bytes(data: string): number {
  return Math.floor((data.replace(/=+$/, '').length * 3) / 4);
}
