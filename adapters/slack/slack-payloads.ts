import { z } from 'zod';

/**
 * The parts of Slack's payloads the adapter reads, validated once at the edge (Bolt hands them over
 * untyped at run time). Loose objects: Slack adds fields freely.
 */

/** The Events API wrapper (`event_callback`) around every event. */
export const eventCallbackSchema = z.looseObject({
  team_id: z.string().optional(),
  event_id: z.string().optional(),
});

/** What a mention and a plain message both carry: who wrote what, where. */
const messageFields = {
  user: z.string().optional(),
  bot_id: z.string().optional(),
  text: z.string().default(''),
  ts: z.string(),
  thread_ts: z.string().optional(),
  channel: z.string(),
  user_team: z.string().optional(),
  team: z.string().optional(),
};

/** `app_mention`: someone wrote `@Baton` in a channel the bot is in. */
export const mentionEventSchema = z.looseObject({ type: z.literal('app_mention'), ...messageFields });

/** `message` (message.channels / message.groups): any message in a channel the bot is in. */
export const messageEventSchema = z.looseObject({
  type: z.literal('message'),
  subtype: z.string().optional(),
  ...messageFields,
});

/** A slash command invocation. */
export const slashCommandSchema = z.looseObject({
  command: z.string(),
  text: z.string().default(''),
  user_id: z.string(),
  user_name: z.string().optional(),
  channel_id: z.string(),
  team_id: z.string().optional(),
  /** One per invocation, the same in every redelivery: the command's event id. */
  trigger_id: z.string().min(1).optional(),
});

/** A button press (`block_actions`) on a message Baton posted. */
export const blockActionsSchema = z.looseObject({
  type: z.literal('block_actions'),
  /** One per press, the same in every redelivery: the press's event id. */
  trigger_id: z.string().min(1).optional(),
  user: z.looseObject({
    id: z.string(),
    username: z.string().optional(),
    name: z.string().optional(),
    team_id: z.string().optional(),
  }),
  team: z.looseObject({ id: z.string() }).nullable().optional(),
  channel: z.looseObject({ id: z.string() }).optional(),
  container: z
    .looseObject({
      channel_id: z.string().optional(),
      message_ts: z.string().optional(),
      thread_ts: z.string().optional(),
    })
    .optional(),
  message: z.looseObject({ ts: z.string(), thread_ts: z.string().optional() }).optional(),
  actions: z.array(z.looseObject({ action_id: z.string(), value: z.string().optional() })).min(1),
});
