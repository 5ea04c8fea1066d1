/** A dynamic block as /api/v1/blocks reports it. Pure types, shared with the dashboard. */
export interface Block {
  id: string;
  kind: 'ip' | 'user';
  /** An IP address or CIDR (kind ip), or a user id (kind user). */
  value: string;
  reason: string;
  created_at: string;
  /** ISO time the block lifts by itself; null = until removed. */
  expires_at: string | null;
  /** Who created it: an admin token id or `rule:<id>`. */
  created_by: string;
}
