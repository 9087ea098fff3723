// Plain data shared by the store, the domain modules and the HTTP layer. No behaviour here.

export interface User {
  id: number;
  username: string;
}

export interface UserWithSecret extends User {
  passwordHash: string;
  /** When an administrator disabled the account; null while it is enabled. */
  disabledAt: number | null;
}

export interface UserSummary extends User {
  createdAt: number;
  disabledAt: number | null;
  devices: number;
}

export interface Device {
  id: string;
  userId: number;
  name: string;
  createdAt: number;
  lastSeenAt: number;
  /** The furthest stream position this device has polled with (its acknowledgement). */
  cursor: number;
}

/** A device with what authentication needs: the owner's name and the stored token hash. */
export interface DeviceAuth extends Device {
  username: string;
  /** sha256 of the token's secret, in hex. */
  tokenHash: string;
}

export interface MessageRow {
  id: number;
  senderId: number;
  /** The recipient of a 1:1 message; null for a group message. */
  recipientId: number | null;
  /** The group of a group message; null for a 1:1 message. */
  groupId: number | null;
  from: string;
  /** The recipient's name; null for a group message. */
  to: string | null;
  body: string;
  clientId: string | null;
  sentAt: number;
}

/** A group as its members see it (issue #15): members sorted by name; owner null once it is gone. */
export interface GroupRow {
  id: number;
  name: string;
  owner: string | null;
  members: string[];
  createdAt: number;
}

export type GroupAction = 'created' | 'renamed' | 'added' | 'removed' | 'left';

/** What a change to a group was: who did it (null: an administrator) and to whom. */
export interface GroupChange {
  action: GroupAction;
  actor: string | null;
  subject: string | null;
}

/** One entry of a user's event stream, as stored. */
export type EventRow =
  | { seq: number; kind: 'message'; message: MessageRow }
  | { seq: number; kind: 'read'; with: string; upTo: number }
  /** A change to a group, with the group's state right after it (not its state now). */
  | { seq: number; kind: 'group'; group: GroupRow; change: GroupChange }
  | { seq: number; kind: 'group_read'; group: number; upTo: number };

/** An event appended to a user's stream by a write: whom to wake, at which position. */
export interface Delivery {
  userId: number;
  seq: number;
}

/** An event ready to send: its position in the owner's stream and its JSON text. */
export interface StreamEvent {
  seq: number;
  json: string;
}

export type SendResult =
  | { status: 'created'; message: MessageRow; senderSeq: number; recipientSeq: number | null }
  | { status: 'existing'; message: MessageRow }
  | { status: 'conflict' }
  /** The sending device was logged out or revoked before the send committed: nothing stored. */
  | { status: 'revoked' };

export type GroupSendResult =
  | { status: 'created'; message: MessageRow; deliveries: Delivery[] }
  | { status: 'existing'; message: MessageRow }
  | { status: 'conflict' }
  /** The sending device was logged out or revoked before the send committed: nothing stored. */
  | { status: 'revoked' }
  /** No such group, or the sender is not a member of it (the same answer: existence is not theirs to learn). */
  | { status: 'not_found' };

/**
 * The limits a write that adds members checks inside its transaction (the settings of the same
 * names: GROUP_MEMBERS_MAX, GROUPS_PER_USER_MAX), so concurrent adds never pass them.
 */
export interface GroupLimits {
  /** Members a group may have, its owner included. */
  readonly groupMembersMax: number;
  /** Groups a user may be a member of. */
  readonly groupsPerUserMax: number;
}

/** What a change to a group did. */
export type GroupChangeResult =
  | { status: 'changed'; group: GroupRow; change: GroupChange; deliveries: Delivery[] }
  /** Nothing to change (already a member, the same name): no event. */
  | { status: 'unchanged'; group: GroupRow }
  /** No such group, or the caller is not a member. */
  | { status: 'not_found' }
  /** The group has as many members as it may. */
  | { status: 'full' }
  /** `username` is a member of as many groups as a user may be (nothing was changed). */
  | { status: 'user_full'; username: string }
  /** A member who is not the owner removing someone else. */
  | { status: 'forbidden' }
  /** The user to remove is not a member. */
  | { status: 'not_member' }
  /** The device asking was logged out or revoked before the change committed: nothing changed. */
  | { status: 'revoked' };

/** One of a user's groups with their read state, for GET /groups and GET /conversations. */
export interface GroupConversationRow {
  group: GroupRow;
  /** null: no message yet. */
  lastMessage: MessageRow | null;
  unread: number;
  readUpTo: number;
}

/** A group for administration. */
export interface GroupSummary {
  id: number;
  name: string;
  owner: string | null;
  members: number;
  createdAt: number;
}

/** A member for administration, in join order. */
export interface GroupMemberRow {
  username: string;
  joinedAt: number;
}

export interface HistoryPage {
  messages: MessageRow[];
  hasMore: boolean;
}

export type ReadResult =
  | { status: 'moved'; upTo: number; seq: number }
  | { status: 'unchanged'; upTo: number }
  | { status: 'not_found' }
  /** The reading device was logged out or revoked before the marker committed: nothing moved. */
  | { status: 'revoked' };

export interface ConversationRow {
  peer: string;
  unread: number;
  readUpTo: number;
  lastMessage: MessageRow;
}
