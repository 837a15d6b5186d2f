-- The core of the store: companies, connections and their link codes,
-- agents, API keys, secrets, sync settings and the schedule, webhooks with
-- their outbox and log, agent events, and the overflow of the change feed.
-- Each value is the JSON of its Go struct in doc; the other columns are
-- what queries filter, order and join on. Ids are COLLATE "C": byte order,
-- as Badger's keys, whatever the database's locale.

CREATE TABLE companies (
	id text COLLATE "C" PRIMARY KEY,
	created timestamptz NOT NULL,
	doc jsonb NOT NULL
);
CREATE INDEX companies_created ON companies (created, id);

CREATE TABLE company_settings (
	company_id text COLLATE "C" PRIMARY KEY REFERENCES companies (id) ON DELETE CASCADE,
	doc jsonb NOT NULL
);

CREATE TABLE connections (
	id text COLLATE "C" PRIMARY KEY,
	company_id text COLLATE "C" NOT NULL REFERENCES companies (id) ON DELETE CASCADE,
	agent_id text COLLATE "C",
	created timestamptz NOT NULL,
	doc jsonb NOT NULL
);
CREATE INDEX connections_company ON connections (company_id, created, id);
CREATE INDEX connections_agent ON connections (agent_id, created, id) WHERE agent_id IS NOT NULL;

CREATE TABLE link_codes (
	hash bytea PRIMARY KEY,
	connection_id text COLLATE "C" NOT NULL REFERENCES connections (id) ON DELETE CASCADE,
	doc jsonb NOT NULL
);
CREATE INDEX link_codes_connection ON link_codes (connection_id);

CREATE TABLE api_keys (
	id text COLLATE "C" PRIMARY KEY,
	hash bytea NOT NULL UNIQUE,
	created timestamptz NOT NULL,
	doc jsonb NOT NULL
);
CREATE INDEX api_keys_created ON api_keys (created, id);

CREATE TABLE agents (
	id text COLLATE "C" PRIMARY KEY,
	credential_hash bytea NOT NULL UNIQUE,
	created timestamptz NOT NULL,
	doc jsonb NOT NULL
);
CREATE INDEX agents_created ON agents (created, id);

CREATE TABLE secrets (
	name text PRIMARY KEY,
	value bytea NOT NULL
);

-- settings holds the client's sync settings (name 'profile').
CREATE TABLE settings (
	name text PRIMARY KEY,
	doc jsonb NOT NULL
);

-- schedules: one entry per (connection, data type); due is null when none
-- is armed.
CREATE TABLE schedules (
	connection_id text COLLATE "C" NOT NULL REFERENCES connections (id) ON DELETE CASCADE,
	data_type text COLLATE "C" NOT NULL,
	due timestamptz,
	doc jsonb NOT NULL,
	PRIMARY KEY (connection_id, data_type)
);
CREATE INDEX schedules_due ON schedules (due, connection_id, data_type) WHERE due IS NOT NULL;

-- webhooks: at most store.MaxWebhooks, read whole and sorted in Go.
CREATE TABLE webhooks (
	id text COLLATE "C" PRIMARY KEY,
	doc jsonb NOT NULL
);

-- webhook_deliveries is the outbox: one row per event and consumer.
CREATE TABLE webhook_deliveries (
	webhook_id text COLLATE "C" NOT NULL REFERENCES webhooks (id) ON DELETE CASCADE,
	event_id text COLLATE "C" NOT NULL,
	due timestamptz NOT NULL,
	doc jsonb NOT NULL,
	PRIMARY KEY (webhook_id, event_id)
);
CREATE INDEX webhook_deliveries_due ON webhook_deliveries (due, webhook_id, event_id);

CREATE TABLE webhook_log (
	webhook_id text COLLATE "C" NOT NULL REFERENCES webhooks (id) ON DELETE CASCADE,
	at timestamptz NOT NULL,
	event_id text COLLATE "C" NOT NULL,
	attempt int NOT NULL,
	doc jsonb NOT NULL,
	PRIMARY KEY (webhook_id, at, event_id, attempt)
);

CREATE TABLE agent_events (
	id text COLLATE "C" PRIMARY KEY,
	agent_id text COLLATE "C" NOT NULL,
	at timestamptz NOT NULL,
	doc jsonb NOT NULL
);
CREATE INDEX agent_events_agent ON agent_events (agent_id, at, id);
CREATE INDEX agent_events_at ON agent_events (at);

-- ferry_change_overflow holds the changes too large for a notification's
-- payload, which then names the row; rows older than an hour are swept.
CREATE TABLE ferry_change_overflow (
	id bigserial PRIMARY KEY,
	body jsonb NOT NULL,
	created timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX ferry_change_overflow_created ON ferry_change_overflow (created);
