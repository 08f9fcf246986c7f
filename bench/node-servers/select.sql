\set id random(1, 10000)
SELECT id, name, price, qty, created_at FROM bench_items WHERE id = :id;
