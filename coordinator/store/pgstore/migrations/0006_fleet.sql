-- round_trips: the agents' heartbeat round trips, in two rings per agent
-- (resolution 60: a slot a minute for a day; 3600: a slot an hour for 30
-- days). A slot is overwritten, never deleted: bounded, never pruned.
CREATE TABLE round_trips (
	agent_id text COLLATE "C" NOT NULL,
	resolution integer NOT NULL,
	slot integer NOT NULL,
	at timestamptz NOT NULL,
	millis bigint NOT NULL,
	PRIMARY KEY (agent_id, resolution, slot)
);
