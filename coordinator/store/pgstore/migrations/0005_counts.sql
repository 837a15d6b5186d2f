-- What each agent holds across the replicas for the moment: its upload
-- slots and the window coalescing its refused credential's events
-- (held.go). Neither needs durability, so both tables are UNLOGGED (no
-- WAL: PostgreSQL empties them after a crash of its own, which frees
-- every slot and forgets what the windows counted) and written with
-- asynchronous commits.

-- upload_slots: slot is 0 to the limit - 1; a slot is free when it has no
-- row or its row's until has passed.
CREATE UNLOGGED TABLE upload_slots (
	agent_id text COLLATE "C" NOT NULL,
	slot int NOT NULL,
	token text NOT NULL,
	until timestamptz NOT NULL,
	PRIMARY KEY (agent_id, slot)
);
CREATE INDEX upload_slots_until ON upload_slots (until);

-- refusal_windows: one per agent; n counts the refusals after the first.
CREATE UNLOGGED TABLE refusal_windows (
	agent_id text COLLATE "C" PRIMARY KEY,
	since timestamptz NOT NULL,
	until timestamptz NOT NULL,
	n int NOT NULL,
	last text NOT NULL,
	remote text NOT NULL
);
CREATE INDEX refusal_windows_until ON refusal_windows (until);

-- snapshot_readers: a CachedRecords call reading a snapshot page by page,
-- each page in a statement of its own; a snapshot is not deleted while a
-- reader's until has not passed (cache.go).
CREATE UNLOGGED TABLE snapshot_readers (
	token text PRIMARY KEY,
	dataset_id text COLLATE "C" NOT NULL,
	until timestamptz NOT NULL
);
CREATE INDEX snapshot_readers_snapshot ON snapshot_readers (dataset_id);
CREATE INDEX snapshot_readers_until ON snapshot_readers (until);
