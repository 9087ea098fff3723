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
  recipientId: number;
  from: string;
  to: string;
  body: string;
  clientId: string | null;
  sentAt: number;
}

/** One entry of a user's event stream, as stored. */
export type EventRow = { seq: number; kind: 'message'; message: MessageRow } | { seq: number; kind: 'read'; with: string; upTo: number };

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

export interface HistoryPage {
  messages: MessageRow[];
  hasMore: boolean;
}

export type ReadResult = { status: 'moved'; upTo: number; seq: number } | { status: 'unchanged'; upTo: number } | { status: 'not_found' };

export interface ConversationRow {
  peer: string;
  unread: number;
  readUpTo: number;
  lastMessage: MessageRow;
}
