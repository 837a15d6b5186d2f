-- rollouts: the staged updates of the agent fleet, one per release
-- version; the engine on the leader moves them on. At most one is Running
-- or Paused (active), which CreateRollout checks in a serializable
-- transaction.
CREATE TABLE rollouts (
	version text COLLATE "C" PRIMARY KEY,
	created timestamptz NOT NULL,
	active boolean NOT NULL,
	doc jsonb NOT NULL
);
