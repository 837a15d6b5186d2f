-- What the coordinator's replicas share: who holds each agent's control
-- channel, the named leases of the once-only work, the Portal's sessions
-- and the windows of failed authentications. Channels, leases and
-- failure windows are plain columns, not a doc: the statements that
-- change them decide in one step (an epoch incremented, a lease taken
-- only when free, a count added to), so that concurrent writers wait for
-- one another instead of failing.

-- channels: one row per agent ever claimed; replica is '' once released,
-- and epoch stays.
CREATE TABLE channels (
	agent_id text COLLATE "C" PRIMARY KEY REFERENCES agents (id) ON DELETE CASCADE,
	replica text NOT NULL,
	epoch bigint NOT NULL
);
CREATE INDEX channels_held ON channels (agent_id) WHERE replica <> '';

CREATE TABLE leader_leases (
	name text PRIMARY KEY,
	holder text NOT NULL,
	until timestamptz NOT NULL
);

-- sessions: id is the SHA-256 of the cookie's value.
CREATE TABLE sessions (
	id bytea PRIMARY KEY,
	created timestamptz NOT NULL,
	seen timestamptz NOT NULL,
	doc jsonb NOT NULL
);
CREATE INDEX sessions_created ON sessions (created);
CREATE INDEX sessions_seen ON sessions (seen);

-- failures: one window per key (a kind and an address).
CREATE TABLE failures (
	key text PRIMARY KEY,
	n int NOT NULL,
	until timestamptz NOT NULL
);
CREATE INDEX failures_until ON failures (until);
