// The query catalog of groups on PostgreSQL (issue #15), in queries.ts's style: every statement
// named (a prepared statement per connection), columns aliased to the domain's names. Group
// names are stored escaped (text.ts); the methods in groups.ts unescape them.
import type { GroupAction } from '../../types';
import { MESSAGE_COLUMNS, MESSAGE_JOINS, type Sql } from './queries';

export interface GroupStateRow {
  id: number;
  /** Escaped (text.ts). */
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

export interface NewChange {
  groupId: number;
  name: string;
  owner: string | null;
  members: string;
  action: GroupAction;
  actor: string | null;
  subject: string | null;
}

function sql(name: string, text: string): Sql {
  return { name, text };
}

const GROUP_STATE = `g.id, g.name, g.owner_id AS "ownerId", o.username AS owner, g.created_at AS "createdAt",
                     g.last_message_id AS "lastMessageId"`;

// The three statements that find a group by the id a client gave (selectGroup, lockGroup,
// selectIsMember) take it as bigint: a group id is an integer column, and an id past its range
// (the API takes any up to 2^53) is then a group that does not exist, not an out-of-range error.
export const G = {
  insertGroup: sql('g_insert_group', `INSERT INTO groups (name, owner_id, created_at) VALUES ($1, $2, $3) RETURNING id`),
  selectGroup: sql('g_select_group', `SELECT ${GROUP_STATE} FROM groups g LEFT JOIN users o ON o.id = g.owner_id WHERE g.id = $1::bigint`),
  // The group's row, held until commit: what serializes its sends, changes and read markers
  // (db/postgres/002_groups.sql). NO KEY: rows that only reference the group are not held up.
  lockGroup: sql(
    'g_lock_group',
    `SELECT ${GROUP_STATE} FROM groups g LEFT JOIN users o ON o.id = g.owner_id WHERE g.id = $1::bigint FOR NO KEY UPDATE OF g`,
  ),
  updateGroupName: sql('g_update_group_name', `UPDATE groups SET name = $1 WHERE id = $2`),
  updateGroupOwner: sql('g_update_group_owner', `UPDATE groups SET owner_id = $1 WHERE id = $2`),
  updateGroupLastMessage: sql('g_update_group_last_message', `UPDATE groups SET last_message_id = $1 WHERE id = $2`),

  // --- members ---
  selectIsMember: sql('g_select_is_member', `SELECT 1 AS one FROM group_members WHERE group_id = $1::bigint AND user_id = $2`),
  selectMemberIds: sql('g_select_member_ids', `SELECT user_id AS "userId" FROM group_members WHERE group_id = $1 ORDER BY user_id`),
  // Sorted by name as JavaScript sorts them: usernames are ASCII, and "C" compares bytes.
  selectMemberNames: sql(
    'g_select_member_names',
    `SELECT u.username FROM group_members gm JOIN users u ON u.id = gm.user_id
     WHERE gm.group_id = $1 ORDER BY u.username COLLATE "C"`,
  ),
  countMembers: sql('g_count_members', `SELECT count(*)::integer AS n FROM group_members WHERE group_id = $1`),
  // The rows of users about to join groups, in id order, held until commit: two transactions that
  // add the same user (to different groups: different group rows) then count that user's groups
  // one after the other. NO KEY: rows that only reference the user are not held up.
  lockJoiningUsers: sql('g_lock_joining_users', `SELECT id FROM users WHERE id = ANY($1::integer[]) ORDER BY id FOR NO KEY UPDATE`),
  // The first of these users ($1, in join order) who is a member of at least $2 groups
  // (GROUPS_PER_USER_MAX): one who may join no more. A statement of its own after
  // lockJoiningUsers, so its snapshot sees every add committed before the lock was granted.
  selectFirstUserAtGroupLimit: sql(
    'g_select_first_user_at_group_limit',
    `SELECT u.username FROM unnest($1::integer[]) WITH ORDINALITY AS j(id, n) JOIN users u ON u.id = j.id
     WHERE (SELECT count(*) FROM group_members gm WHERE gm.user_id = j.id) >= $2 ORDER BY j.n LIMIT 1`,
  ),
  // Join order: next after the group's latest (under the group's row, so never taken twice).
  insertMember: sql(
    'g_insert_member',
    `INSERT INTO group_members (group_id, user_id, joined, joined_at, read_up_to)
     VALUES ($1, $2, (SELECT coalesce(max(joined), 0) + 1 FROM group_members WHERE group_id = $1), $3, $4)`,
  ),
  deleteMember: sql('g_delete_member', `DELETE FROM group_members WHERE group_id = $1 AND user_id = $2`),
  // The owner's successor: the member who joined earliest.
  selectEarliestMember: sql(
    'g_select_earliest_member',
    `SELECT user_id AS "userId" FROM group_members WHERE group_id = $1 ORDER BY joined LIMIT 1`,
  ),
  selectMembersInJoinOrder: sql(
    'g_select_members_in_join_order',
    `SELECT u.username, gm.joined_at AS "joinedAt" FROM group_members gm JOIN users u ON u.id = gm.user_id
     WHERE gm.group_id = $1 ORDER BY gm.joined`,
  ),

  // --- a user's groups ---
  // Latest message first; a group without one by its creation (both are times set here).
  selectGroupsOfUser: sql(
    'g_select_groups_of_user',
    `SELECT ${GROUP_STATE}, gm.unread, gm.read_up_to AS "readUpTo"
     FROM group_members gm
     JOIN groups g ON g.id = gm.group_id
     LEFT JOIN users o ON o.id = g.owner_id
     LEFT JOIN messages lm ON lm.id = g.last_message_id
     WHERE gm.user_id = $1
     ORDER BY coalesce(lm.sent_at, g.created_at) DESC, g.id DESC`,
  ),
  // The members of every group of a user, in one read, sorted by name.
  selectMembersOfUsersGroups: sql(
    'g_select_members_of_users_groups',
    `SELECT gm2.group_id AS "groupId", u.username
     FROM group_members gm
     JOIN group_members gm2 ON gm2.group_id = gm.group_id
     JOIN users u ON u.id = gm2.user_id
     WHERE gm.user_id = $1
     ORDER BY u.username COLLATE "C"`,
  ),
  selectMessages: sql('g_select_messages', `SELECT ${MESSAGE_COLUMNS} FROM messages m ${MESSAGE_JOINS} WHERE m.id = ANY($1::bigint[])`),

  // --- changes ---
  insertChange: sql(
    'g_insert_change',
    `INSERT INTO group_changes (group_id, name, owner, members, action, actor, subject, at)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING id`,
  ),

  // --- messages ---
  insertGroupMessage: sql(
    'g_insert_group_message',
    `INSERT INTO messages (sender_id, group_id, body, body_escaped, client_id, sent_at, search)
     VALUES ($1, $2, $3, $4, $5, $6, $7::tsvector) RETURNING id`,
  ),
  // Every member but the sender has one more unread message.
  bumpUnread: sql('g_bump_unread', `UPDATE group_members SET unread = unread + 1 WHERE group_id = $1 AND user_id <> $2`),
  selectHistoryBefore: sql(
    'g_select_history_before',
    `SELECT ${MESSAGE_COLUMNS} FROM messages m ${MESSAGE_JOINS} WHERE m.group_id = $1 AND m.id < $2 ORDER BY m.id DESC LIMIT $3`,
  ),
  selectHistoryAfter: sql(
    'g_select_history_after',
    `SELECT ${MESSAGE_COLUMNS} FROM messages m ${MESSAGE_JOINS} WHERE m.group_id = $1 AND m.id > $2 ORDER BY m.id ASC LIMIT $3`,
  ),
  selectMessageGroup: sql('g_select_message_group', `SELECT group_id AS "groupId" FROM messages WHERE id = $1`),
  selectReadMarker: sql('g_select_read_marker', `SELECT read_up_to AS "upTo" FROM group_members WHERE group_id = $1 AND user_id = $2`),
  // Recounted from the group's index when the marker moves: exact, touching only what is after it.
  updateReadMarker: sql(
    'g_update_read_marker',
    `UPDATE group_members
     SET read_up_to = $3,
         unread = (SELECT count(*) FROM messages WHERE group_id = $1 AND id > $3 AND sender_id <> $2)
     WHERE group_id = $1 AND user_id = $2`,
  ),

  // --- administration ---
  selectAllGroups: sql(
    'g_select_all_groups',
    `SELECT g.id, g.name, o.username AS owner, g.created_at AS "createdAt",
            (SELECT count(*) FROM group_members gm WHERE gm.group_id = g.id)::integer AS members
     FROM groups g LEFT JOIN users o ON o.id = g.owner_id
     WHERE g.owner_id IS NOT NULL
     ORDER BY g.id`,
  ),
};
