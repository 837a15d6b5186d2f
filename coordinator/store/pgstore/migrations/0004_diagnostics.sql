-- diagnostics: an agent's request for diagnostics made on a replica other
-- than the one holding its channel, and the answer that replica stores;
-- one row per agent, a newer request replacing the last, pruned by the
-- leader. answered is NULL while the request waits.
CREATE TABLE diagnostics (
	agent_id text COLLATE "C" PRIMARY KEY REFERENCES agents (id) ON DELETE CASCADE,
	id text NOT NULL,
	replica text NOT NULL,
	asked timestamptz NOT NULL,
	answered timestamptz,
	answer bytea
);
CREATE INDEX diagnostics_asked ON diagnostics (asked);
