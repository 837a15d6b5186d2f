-- Datasets and what hangs off them: their validation results, the pages
-- agents upload, the cache of synced records with its current-snapshot
-- pointers, and the counts of datasets by status. A company's rows go with
-- it by cascade. Ids whose order a caller sees are COLLATE "C": byte
-- order, as Badger's keys, whatever the database's locale.

-- datasets: doc is the store.Dataset; the other columns are what queries
-- filter and order on, written by putDataset from the doc. active is the
-- status not being terminal, lease_expires is set while the dataset is in
-- flight (Fetching or Mapping), lease_agent while a live lease holds it:
-- Go decides all three (dataset.Status.Terminal, rules.InFlight).
CREATE TABLE datasets (
	id text COLLATE "C" PRIMARY KEY,
	company_id text NOT NULL REFERENCES companies (id) ON DELETE CASCADE,
	connection_id text NOT NULL,
	data_type text NOT NULL,
	status text NOT NULL,
	requested timestamptz NOT NULL,
	sync_order int NOT NULL,
	active boolean NOT NULL,
	lease_expires timestamptz,
	lease_agent text,
	doc jsonb NOT NULL
);
-- One non-terminal dataset per type and connection, across every replica.
CREATE UNIQUE INDEX datasets_active ON datasets (connection_id, data_type) WHERE active;
-- QueuedDatasets, in dispatch order.
CREATE INDEX datasets_queued ON datasets (connection_id, sync_order, requested, id) WHERE status = 'Queued';
-- ExpireLeases and RenewLeases.
CREATE INDEX datasets_lease_expires ON datasets (lease_expires, id) WHERE lease_expires IS NOT NULL;
CREATE INDEX datasets_lease_agent ON datasets (lease_agent, id) WHERE lease_agent IS NOT NULL;
-- Datasets, newest requested first (and the cascade from companies).
CREATE INDEX datasets_company ON datasets (company_id, requested DESC, id DESC);
-- DataStatus: the type's newest, and its newest Complete.
CREATE INDEX datasets_type ON datasets (company_id, data_type, requested DESC, id DESC);
CREATE INDEX datasets_type_complete ON datasets (company_id, data_type, requested DESC, id DESC)
	WHERE status = 'Complete';
-- Unprocessed.
CREATE INDEX datasets_unprocessed ON datasets (id) WHERE status IN ('Validating', 'Processing');

CREATE TABLE validations (
	dataset_id text COLLATE "C" PRIMARY KEY REFERENCES datasets (id) ON DELETE CASCADE,
	doc jsonb NOT NULL
);

-- pages: the staged upload pages, by the lease they were staged under, so
-- that an earlier attempt's are out of sight the moment a new claim
-- commits. lines is the page's line index (page.go), null when the
-- uploader gave none. Pages are transient and mostly large: stored
-- uncompressed, which costs disk and saves the time of compressing them.
CREATE TABLE pages (
	dataset_id text COLLATE "C" NOT NULL REFERENCES datasets (id) ON DELETE CASCADE,
	lease_id text NOT NULL,
	n int NOT NULL,
	agent_id text NOT NULL,
	records int NOT NULL,
	lines bytea,
	data bytea NOT NULL,
	PRIMARY KEY (dataset_id, lease_id, n)
);
ALTER TABLE pages ALTER COLUMN data SET STORAGE EXTERNAL;
ALTER TABLE pages ALTER COLUMN lines SET STORAGE EXTERNAL;

-- ended_pages: the datasets that ended after staging pages, whose pages
-- PublishCache deletes.
CREATE TABLE ended_pages (
	dataset_id text COLLATE "C" PRIMARY KEY REFERENCES datasets (id) ON DELETE CASCADE
);

-- The records cache. A snapshot is the records of one dataset; it is
-- listed in cache_snapshots while its records exist, and cache_current
-- points at the current snapshot of each (company, data type). records
-- has no foreign key, which would cost a lookup per row of each COPY:
-- deleting a snapshot's row (by cascade from its company, or a publish's
-- cleanup) deletes its records, by the trigger below. Of two lines with
-- one id in a snapshot the later (higher seq) is the record.
CREATE TABLE cache_snapshots (
	dataset_id text COLLATE "C" PRIMARY KEY,
	company_id text NOT NULL REFERENCES companies (id) ON DELETE CASCADE,
	data_type text NOT NULL
);
CREATE INDEX cache_snapshots_type ON cache_snapshots (company_id, data_type);

CREATE TABLE cache_current (
	company_id text NOT NULL REFERENCES companies (id) ON DELETE CASCADE,
	data_type text NOT NULL,
	dataset_id text COLLATE "C" NOT NULL,
	PRIMARY KEY (company_id, data_type)
);

CREATE TABLE records (
	dataset_id text COLLATE "C" NOT NULL,
	id text COLLATE "C" NOT NULL,
	seq bigint NOT NULL,
	body bytea NOT NULL
);
CREATE UNIQUE INDEX records_id ON records (dataset_id, id, seq DESC);

CREATE FUNCTION ferry_snapshots_deleted() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	DELETE FROM records WHERE dataset_id IN (SELECT dataset_id FROM gone);
	RETURN NULL;
END $$;
CREATE TRIGGER cache_snapshots_deleted AFTER DELETE ON cache_snapshots
	REFERENCING OLD TABLE AS gone FOR EACH STATEMENT EXECUTE FUNCTION ferry_snapshots_deleted();

-- The counts of datasets by status (counts.go): each dataset write adds
-- its delta rows, which concurrent writers never contend on, and
-- DatasetCounts folds them into dataset_counts. A company's datasets
-- deleted by cascade add theirs by the trigger below.
CREATE TABLE dataset_counts (
	status text PRIMARY KEY,
	n bigint NOT NULL
);

CREATE TABLE dataset_count_deltas (
	id bigserial PRIMARY KEY,
	status text NOT NULL,
	delta int NOT NULL
);

CREATE FUNCTION ferry_datasets_deleted() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	INSERT INTO dataset_count_deltas (status, delta) SELECT status, -count(*) FROM gone GROUP BY status;
	RETURN NULL;
END $$;
CREATE TRIGGER datasets_deleted AFTER DELETE ON datasets
	REFERENCING OLD TABLE AS gone FOR EACH STATEMENT EXECUTE FUNCTION ferry_datasets_deleted();
