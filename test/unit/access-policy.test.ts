import { describe, expect, it } from 'vitest';
import { batonConfigSchema } from '../../src/config/schema.ts';
import { type AccessConfig, AccessPolicy } from '../../src/gateway/access-policy.ts';
import type { ChatUser, ConversationRef } from '../../src/gateway/chat-adapter.ts';
import { originFor, ownerOf } from '../../src/tasks/task-access.ts';
import type { TaskRecord } from '../../src/tasks/task-record.ts';

function accessConfig(overrides: Partial<AccessConfig> = {}): AccessConfig {
  return batonConfigSchema.parse({ access: overrides }).access;
}

function user(id: string, extra: Partial<ChatUser> = {}): ChatUser {
  return { id, name: id, roleIds: [], ...extra };
}

const here: ConversationRef = { platform: 'discord', channel: 'ops', thread: 'th1' };
const elsewhere: ConversationRef = { platform: 'discord', channel: 'random', thread: 'th9' };
const slackOps: ConversationRef = { platform: 'slack', channel: 'ops', thread: 'th1' };

function task(origin: Partial<TaskRecord['origin']> = {}): TaskRecord {
  return {
    id: 't_abcd23',
    sessionKey: 'discord:ops:th1',
    origin: {
      platform: 'discord',
      channel: 'ops',
      thread: 'th1',
      user: 'owner',
      userName: 'Owner',
      ...origin,
    },
    parentTaskId: null,
    depth: 1,
    role: 'leaf',
    goal: 'check the logs',
    context: '',
    toolsets: [],
    route: 'default',
    status: 'running',
    createdAt: 0,
    startedAt: 0,
    endedAt: null,
    steps: 0,
    usage: { prompt_tokens: 0, completion_tokens: 0, total_tokens: 0 },
    summary: null,
    error: null,
    attempts: 1,
  };
}

describe('AccessPolicy.isAdmin', () => {
  const policy = new AccessPolicy(accessConfig({ admin_users: ['boss'], admin_roles: ['role-admin'] }));

  it.each<[string, ChatUser, boolean]>([
    ['listed admin user', user('boss'), true],
    ['user with an admin role', user('someone', { roleIds: ['role-dev', 'role-admin'] }), true],
    ['user with other roles', user('someone', { roleIds: ['role-dev'] }), false],
    ['user with no roles', user('someone'), false],
    ['a role id used as a user id', user('role-admin'), false],
  ])('%s → %s', (_name, candidate, expected) => {
    expect(policy.isAdmin(candidate)).toBe(expected);
  });
});

describe('AccessPolicy.isAllowed', () => {
  const cases: Array<[string, Partial<AccessConfig>, ChatUser, ConversationRef, boolean]> = [
    ['empty config denies a user', {}, user('u1'), here, false],
    [
      'empty config denies a user with roles in a guild',
      {},
      user('u1', { roleIds: ['r1'], workspaceId: 'g1' }),
      here,
      false,
    ],
    ['the trusted console user is always allowed', {}, user('console', { trusted: true }), here, true],
    [
      'trusted even outside the allowed guilds',
      { allowed_guilds: ['g1'] },
      user('console', { trusted: true }),
      here,
      true,
    ],
    ['listed user', { allowed_users: ['u1'] }, user('u1'), here, true],
    ['another user is not', { allowed_users: ['u1'] }, user('u2'), here, false],
    ['listed role', { allowed_roles: ['r1'] }, user('u2', { roleIds: ['r0', 'r1'] }), here, true],
    ['unlisted roles', { allowed_roles: ['r1'] }, user('u2', { roleIds: ['r0'] }), here, false],
    ['listed channel admits everyone there', { allowed_channels: ['ops'] }, user('stranger'), here, true],
    [
      'listed channel admits nobody elsewhere',
      { allowed_channels: ['ops'] },
      user('stranger'),
      elsewhere,
      false,
    ],
    ['admin user', { admin_users: ['boss'] }, user('boss'), elsewhere, true],
    ['admin role', { admin_roles: ['ra'] }, user('u9', { roleIds: ['ra'] }), elsewhere, true],
    [
      'admin outside the allowed guilds',
      { allowed_guilds: ['g1'], admin_users: ['boss'] },
      user('boss', { workspaceId: 'g2' }),
      here,
      true,
    ],
    [
      'listed user in an allowed guild',
      { allowed_guilds: ['g1'], allowed_users: ['u1'] },
      user('u1', { workspaceId: 'g1' }),
      here,
      true,
    ],
    [
      'guild restriction beats user listing',
      { allowed_guilds: ['g1'], allowed_users: ['u1'] },
      user('u1', { workspaceId: 'g2' }),
      here,
      false,
    ],
    [
      'guild restriction beats a user with no guild',
      { allowed_guilds: ['g1'], allowed_users: ['u1'] },
      user('u1'),
      here,
      false,
    ],
    [
      'guild restriction beats channel listing',
      { allowed_guilds: ['g1'], allowed_channels: ['ops'] },
      user('u3', { workspaceId: 'g2' }),
      here,
      false,
    ],
    [
      'guild restriction beats role listing',
      { allowed_guilds: ['g1'], allowed_roles: ['r1'] },
      user('u3', { roleIds: ['r1'], workspaceId: 'g2' }),
      here,
      false,
    ],
    [
      'an allowed guild alone admits nobody',
      { allowed_guilds: ['g1'] },
      user('u3', { workspaceId: 'g1' }),
      here,
      false,
    ],
    [
      'channel listing in an allowed guild',
      { allowed_guilds: ['g1'], allowed_channels: ['ops'] },
      user('u3', { workspaceId: 'g1' }),
      here,
      true,
    ],
  ];

  it.each(cases)('%s', (_name, config, candidate, ref, expected) => {
    expect(new AccessPolicy(accessConfig(config)).isAllowed(candidate, ref)).toBe(expected);
  });
});

describe('AccessPolicy.canControlTask', () => {
  const base: Partial<AccessConfig> = {
    allowed_channels: ['ops'],
    admin_users: ['boss'],
    admin_roles: ['ra'],
  };
  const owner = user('owner');
  const other = user('other');
  const admin = user('boss');
  const roleAdmin = user('u7', { roleIds: ['ra'] });
  const consoleUser = user('console', { trusted: true });

  const cases: Array<[AccessConfig['task_control'], string, ChatUser, ConversationRef, TaskRecord, boolean]> =
    [
      ['owner', 'owner', owner, here, task(), true],
      ['owner', 'owner from another channel', owner, elsewhere, task(), true],
      ['owner', 'same user id on another platform', owner, slackOps, task(), false],
      ['owner', 'non-owner', other, here, task(), false],
      ['owner', 'admin user', admin, here, task(), true],
      ['owner', 'admin role', roleAdmin, elsewhere, task(), true],
      ['owner', 'trusted console', consoleUser, here, task(), true],
      ['channel', 'non-owner allowed in the task channel', other, here, task(), true],
      ['channel', 'non-owner writing from another channel', other, elsewhere, task(), false],
      ['channel', 'non-owner in a same-named channel of another platform', other, slackOps, task(), false],
      ['channel', 'owner', owner, here, task(), true],
      ['channel', 'admin', admin, elsewhere, task(), true],
      ['admins', 'owner', owner, here, task(), false],
      ['admins', 'non-owner', other, here, task(), false],
      ['admins', 'admin user', admin, here, task(), true],
      ['admins', 'admin role', roleAdmin, here, task(), true],
      ['admins', 'trusted console', consoleUser, here, task(), true],
    ];

  it.each(cases)('task_control %s: %s', (taskControl, _name, candidate, ref, record, expected) => {
    const policy = new AccessPolicy(accessConfig({ ...base, task_control: taskControl }));
    expect(policy.canControlTask(candidate, ref, record)).toBe(expected);
  });

  it('channel control needs the user to be allowed in that channel', () => {
    const policy = new AccessPolicy(accessConfig({ allowed_users: ['owner'], task_control: 'channel' }));
    expect(policy.canControlTask(other, here, task())).toBe(false);
    expect(policy.canControlTask(owner, here, task())).toBe(true);
  });

  it('defaults to owner control', () => {
    expect(new AccessPolicy(accessConfig()).taskControl).toBe('owner');
  });
});

describe('acting for a task’s owner (issue 8 §1)', () => {
  it('records who started a task on its origin, and acts as them later, with the roles they had', () => {
    const policy = new AccessPolicy(accessConfig({ admin_roles: ['lead'], task_control: 'admins' }));
    const lead = user('carol', { roleIds: ['lead'], workspaceId: 'guild-1' });
    const origin = originFor({ ...here, privateThread: true }, lead);
    expect(origin).toEqual({
      ...here,
      user: 'carol',
      userName: 'carol',
      userRoleIds: ['lead'],
      workspaceId: 'guild-1',
      privateThread: true,
    });
    expect(ownerOf(origin)).toEqual(lead);
    expect(policy.refusal(ownerOf(origin), here, task({ user: 'someone' }), 'cancel')).toBeNull();
  });

  it('acts for the owner of a task recorded before roles were kept: by id, without roles', () => {
    const legacy = task().origin;
    expect(ownerOf(legacy)).toEqual({ id: 'owner', name: 'Owner', roleIds: [] });
    const policy = new AccessPolicy(accessConfig());
    expect(policy.refusal(ownerOf(legacy), here, task(), 'steer')).toBeNull();
    expect(policy.refusal(user('other'), here, task(), 'check')).toBe(
      "only the task's owner or an admin can see the details of t_abcd23",
    );
  });
});
