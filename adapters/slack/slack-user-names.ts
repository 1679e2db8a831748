import type { webApi } from '@slack/bolt';
import type { Logger } from '../../src/logging/logger.ts';

const cacheMs = 60 * 60_000;
/** A name lookup sits on the path that acknowledges an event (3 s budget): past this, the id will do. */
const lookupBudgetMs = 1000;
const maxEntries = 5000;

/**
 * People's display names (`users.info`, scope `users:read`), cached for an hour: the parent reads
 * "Ada: …", not "U024BE7LH: …". A failed or slow lookup falls back to the user id, never blocks a turn.
 */
export class SlackUserNames {
  private readonly cache = new Map<string, { name: string; at: number }>();

  constructor(
    private readonly client: webApi.WebClient,
    private readonly logger: Logger,
  ) {}

  async nameOf(userId: string, hint?: string): Promise<string> {
    const cached = this.cache.get(userId);
    if (cached && Date.now() - cached.at < cacheMs) return cached.name;
    const name = await this.lookUp(userId);
    if (name === null) return hint || cached?.name || userId;
    if (this.cache.size >= maxEntries) this.cache.clear();
    this.cache.set(userId, { name, at: Date.now() });
    return name;
  }

  private async lookUp(userId: string): Promise<string | null> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<null>((resolve) => {
      timer = setTimeout(() => resolve(null), lookupBudgetMs);
    });
    const lookup = this.client.users.info({ user: userId }).then(
      (result) => {
        const user = result.user;
        return user?.profile?.display_name || user?.real_name || user?.name || null;
      },
      (error: unknown) => {
        this.logger.debug({ err: error, user: userId }, 'slack users.info failed; using the user id');
        return null;
      },
    );
    try {
      return await Promise.race([lookup, timeout]);
    } finally {
      clearTimeout(timer);
    }
  }
}
