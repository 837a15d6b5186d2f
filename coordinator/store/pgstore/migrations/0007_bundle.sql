-- support_bundles: the archives agents collect for support staff (their
-- recent logs, configuration without secrets, diagnostics, versions and
-- books' metadata); archive is NULL until the agent uploads it. Pruned by
-- the leader once older than --bundle-retention.
CREATE TABLE support_bundles (
	agent_id text COLLATE "C" NOT NULL REFERENCES agents (id) ON DELETE CASCADE,
	id text COLLATE "C" NOT NULL,
	requested timestamptz NOT NULL,
	uploaded timestamptz,
	size bigint NOT NULL DEFAULT 0,
	archive bytea,
	PRIMARY KEY (agent_id, id)
);
CREATE INDEX support_bundles_requested ON support_bundles (requested);
