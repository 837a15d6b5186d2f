-- What replicas share besides the data: who holds each agent's control
-- channel (with the epoch that fences a stale holder), named leader
-- leases, the Portal's sessions and the failed-authentication windows.

CREATE TABLE agent_channels (
	agent_id text COLLATE "C" PRIMARY KEY REFERENCES agents (id),
	replica text NOT NULL, -- '' when released
	epoch bigint NOT NULL
);
CREATE INDEX agent_channels_held ON agent_channels (agent_id) WHERE replica <> '';

CREATE TABLE leader_leases (
	name text PRIMARY KEY,
	holder text NOT NULL,
	until timestamptz NOT NULL
);

CREATE TABLE portal_sessions (
	id bytea PRIMARY KEY,
	created timestamptz NOT NULL,
	seen timestamptz NOT NULL,
	doc jsonb NOT NULL
);
CREATE INDEX portal_sessions_seen ON portal_sessions (seen);
CREATE INDEX portal_sessions_created ON portal_sessions (created);

CREATE TABLE auth_failures (
	key text PRIMARY KEY,
	n integer NOT NULL,
	until timestamptz NOT NULL
);
CREATE INDEX auth_failures_until ON auth_failures (until);
