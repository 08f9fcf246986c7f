-- The benchmark table: 10,000 rows of five common column types.
CREATE TABLE bench_items (
  id integer PRIMARY KEY,
  name text NOT NULL,
  price double precision NOT NULL,
  qty integer NOT NULL,
  created_at timestamptz NOT NULL
);
INSERT INTO bench_items
SELECT g, 'item-' || g || '-' || md5(g::text), (g % 1000) / 7.0, g % 97,
       timestamptz '2024-01-01 00:00:00+00' + g * interval '1 minute'
FROM generate_series(1, 10000) AS g;
ANALYZE bench_items;
