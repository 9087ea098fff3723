// The query catalog of groups (issue #15), beside queries.ts and in its style: every statement
// named, typed by what it binds and returns, prepared once per database.
import type { Database } from 'better-sqlite3';
import type { GroupAction, GroupMemberRow, GroupSummary, MessageRow } from '../../types';
import { MESSAGE_COLUMNS, MESSAGE_JOINS } from './queries';

export interface GroupStateRow {
  id: number;
  name: string;
  ownerId: number | null;
  owner: string | null;
  createdAt: number;
  lastMessageId: number | null;
}

export interface GroupOfUserRow extends GroupStateRow {
  unread: number;
  readUpTo: number;
}

export interface GroupChangeRow {
  groupId: number;
  name: string;
  owner: string | null;
  /** JSON array of usernames, sorted. */
  members: string;
  createdAt: number;
  action: GroupAction;
  actor: string | null;
  subject: string | null;
}

interface NewMemberParams {
  groupId: number;
  userId: number;
  now: number;
  readUpTo: number;
}

interface NewChangeParams {
  groupId: number;
  name: string;
  owner: string | null;
  members: string;
  action: GroupAction;
  actor: string | null;
  subject: string | null;
  now: number;
}

interface GroupReadParams {
  groupId: number;
  userId: number;
  upTo: number;
}

const GROUP_STATE = `g.id, g.name, g.owner_id AS ownerId, o.username AS owner, g.created_at AS createdAt,
                     g.last_message_id AS lastMessageId`;

export function prepareGroupQueries(db: Database) {
  // eslint-disable-next-line @typescript-eslint/no-unnecessary-type-parameters -- they name what each statement binds and returns
  const q = <P extends unknown[] | object, R = unknown>(sql: string) => db.prepare<P, R>(sql);
  return {
    insertGroup: q<[string, number, number], number>(
      `INSERT INTO groups (name, owner_id, created_at) VALUES (?, ?, ?) RETURNING id`,
    ).pluck(),
    selectGroup: q<[number], GroupStateRow>(`SELECT ${GROUP_STATE} FROM groups g LEFT JOIN users o ON o.id = g.owner_id WHERE g.id = ?`),
    updateGroupName: q<[string, number]>(`UPDATE groups SET name = ? WHERE id = ?`),
    updateGroupOwner: q<[number | null, number]>(`UPDATE groups SET owner_id = ? WHERE id = ?`),
    updateGroupLastMessage: q<[number, number]>(`UPDATE groups SET last_message_id = ? WHERE id = ?`),

    // --- members ---
    selectIsMember: q<[number, number], number>(`SELECT 1 FROM group_members WHERE group_id = ? AND user_id = ?`).pluck(),
    // Whom a group message or change reaches.
    selectMemberIds: q<[number], number>(`SELECT user_id FROM group_members WHERE group_id = ?`).pluck(),
    // Sorted by name: usernames are lowercase ASCII, so SQLite's order is JavaScript's.
    selectMemberNames: q<[number], string>(
      `SELECT u.username FROM group_members gm JOIN users u ON u.id = gm.user_id WHERE gm.group_id = ? ORDER BY u.username`,
    ).pluck(),
    countMembers: q<[number], number>(`SELECT count(*) FROM group_members WHERE group_id = ?`).pluck(),
    // The first of these users (a JSON array of ids, in join order) who is a member of at least
    // as many groups as the limit (GROUPS_PER_USER_MAX): one who may join no more.
    selectFirstUserAtGroupLimit: q<[string, number], string>(
      `SELECT u.username FROM json_each(?) j JOIN users u ON u.id = j.value
       WHERE (SELECT count(*) FROM group_members gm WHERE gm.user_id = j.value) >= ? ORDER BY j.key LIMIT 1`,
    ).pluck(),
    insertMember: q<NewMemberParams>(
      `INSERT INTO group_members (group_id, user_id, joined, joined_at, read_up_to)
       VALUES (@groupId, @userId, (SELECT coalesce(max(joined), 0) + 1 FROM group_members WHERE group_id = @groupId), @now, @readUpTo)`,
    ),
    deleteMember: q<[number, number]>(`DELETE FROM group_members WHERE group_id = ? AND user_id = ?`),
    // The owner's successor: the member who joined earliest.
    selectEarliestMember: q<[number], number>(`SELECT user_id FROM group_members WHERE group_id = ? ORDER BY joined LIMIT 1`).pluck(),
    selectMembersInJoinOrder: q<[number], GroupMemberRow>(
      `SELECT u.username, gm.joined_at AS joinedAt FROM group_members gm JOIN users u ON u.id = gm.user_id
       WHERE gm.group_id = ? ORDER BY gm.joined`,
    ),

    // --- a user's groups ---
    // Latest message first; a group without one by its creation (both are times set here).
    selectGroupsOfUser: q<[number], GroupOfUserRow>(
      `SELECT ${GROUP_STATE}, gm.unread, gm.read_up_to AS readUpTo
       FROM group_members gm
       JOIN groups g ON g.id = gm.group_id
       LEFT JOIN users o ON o.id = g.owner_id
       LEFT JOIN messages lm ON lm.id = g.last_message_id
       WHERE gm.user_id = ?
       ORDER BY coalesce(lm.sent_at, g.created_at) DESC, g.id DESC`,
    ),
    // The members of every group of a user, in one read: (group, name) sorted by name.
    selectMembersOfUsersGroups: q<[number], { groupId: number; username: string }>(
      `SELECT gm2.group_id AS groupId, u.username
       FROM group_members gm
       JOIN group_members gm2 ON gm2.group_id = gm.group_id
       JOIN users u ON u.id = gm2.user_id
       WHERE gm.user_id = ?
       ORDER BY u.username`,
    ),
    selectMessage: q<[number], MessageRow>(`SELECT ${MESSAGE_COLUMNS} FROM messages m ${MESSAGE_JOINS} WHERE m.id = ?`),

    // --- changes ---
    insertChange: q<NewChangeParams, number>(
      `INSERT INTO group_changes (group_id, name, owner, members, action, actor, subject, at)
       VALUES (@groupId, @name, @owner, @members, @action, @actor, @subject, @now) RETURNING id`,
    ).pluck(),
    selectChange: q<[number], GroupChangeRow>(
      `SELECT c.group_id AS groupId, c.name, c.owner, c.members, g.created_at AS createdAt, c.action, c.actor, c.subject
       FROM group_changes c JOIN groups g ON g.id = c.group_id WHERE c.id = ?`,
    ),

    // --- messages ---
    insertGroupMessage: q<[number, number, string, string | null, number]>(
      `INSERT INTO messages (sender_id, group_id, body, client_id, sent_at) VALUES (?, ?, ?, ?, ?)`,
    ),
    // Every member but the sender has one more unread message.
    bumpUnread: q<[number, number]>(`UPDATE group_members SET unread = unread + 1 WHERE group_id = ? AND user_id <> ?`),
    selectHistoryBefore: q<[number, number, number], MessageRow>(
      `SELECT ${MESSAGE_COLUMNS} FROM messages m ${MESSAGE_JOINS}
       WHERE m.group_id = ? AND m.id < ? ORDER BY m.id DESC LIMIT ?`,
    ),
    selectHistoryAfter: q<[number, number, number], MessageRow>(
      `SELECT ${MESSAGE_COLUMNS} FROM messages m ${MESSAGE_JOINS}
       WHERE m.group_id = ? AND m.id > ? ORDER BY m.id ASC LIMIT ?`,
    ),
    // The group of a message: null for a 1:1 message, undefined for no message.
    selectMessageGroup: q<[number], number | null>(`SELECT group_id FROM messages WHERE id = ?`).pluck(),
    selectReadMarker: q<[number, number], number>(`SELECT read_up_to FROM group_members WHERE group_id = ? AND user_id = ?`).pluck(),
    // Recounted from the group's index when the marker moves: exact, touching only what is after it.
    updateReadMarker: q<GroupReadParams>(
      `UPDATE group_members
       SET read_up_to = @upTo,
           unread = (SELECT count(*) FROM messages WHERE group_id = @groupId AND id > @upTo AND sender_id <> @userId)
       WHERE group_id = @groupId AND user_id = @userId`,
    ),

    // --- administration ---
    selectAllGroups: q<[], GroupSummary>(
      `SELECT g.id, g.name, o.username AS owner, g.created_at AS createdAt,
              (SELECT count(*) FROM group_members gm WHERE gm.group_id = g.id) AS members
       FROM groups g LEFT JOIN users o ON o.id = g.owner_id
       WHERE g.owner_id IS NOT NULL
       ORDER BY g.id`,
    ),
  };
}

export type GroupQueries = ReturnType<typeof prepareGroupQueries>;
