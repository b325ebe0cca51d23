INSERT INTO public.everything (i2, i4, i8, num, num_fixed, r, d, m, t, vc, c, b, bo, da, ti, ttz, ts, tstz, tp, iv,
  u, j, jb, x, ip, net, mac, mac8, bi, vb, tv, tq, pt, ln, ls, bx, pa, pg, ci, r4, rn, rts, mr, dr,
  ai, a2, at, an, ats, aip, ab, af, au, ajb, abi, ada, aiv, mo, amo, dp, em, pr, fr, lsn, o, rc, h, ci2, nm, ch, xid8v)
VALUES
 (-32768, 2147483647, -9223372036854775808, 'NaN', 12.345, 'NaN', '-0', '-92233720368547758.08',
  E'tab\there\nnewline \\ backslash ''quote'' "dq" ünïcödé 😀', 'ten chars!', 'ab', '\x00ff0a5c', true,
  '4713-01-01 BC', '24:00:00', '00:00:00+15:59', '4713-01-01 00:00:00 BC', '294276-12-31 23:59:59.999999+00',
  '2024-01-01 12:34:56', '-178000000 years',
  '00000000-0000-0000-0000-000000000000', '{ "b" : 1,  "a" : [1, 2.50, 1e3], "b": 2 }', '{"z": 1, "a": {"n": null}}',
  '<a x="1">t&amp;</a>', '::ffff:1.2.3.4/128', '10.0.0.0/8', '08:00:2b:01:02:03', '08:00:2b:01:02:03:04:05',
  B'1010', B'1', 'a fat:2A cat:3B,4', 'fat & (rat | !cat)', '(1.5,-0)', '{1,-1,0}', '[(0,0),(1,1)]',
  '(2,2),(0,0)', '[(0,0),(1,1),(2,0)]', '((0,0),(1,1),(2,0))', '<(1,1),2>',
  '[1,10)', '(,5.5]', '[2024-01-01 00:00:00+00,infinity)', '{[1,3),[5,7)}', 'empty',
  '{1,NULL,3}', '{{1,2},{3,4}}', '{"a","b c",NULL,"\"q\"",""}', '{NaN,1.50,-0}',
  '{infinity,"2024-02-29 12:00:00+00"}', '{192.168.0.1/24,::1}', '{t,f,NULL}', '{NaN,-Infinity,-0,1e-300}',
  '{a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11}', ARRAY['{"a":1}'::jsonb, 'null'::jsonb], '{1010,0101}',
  '{infinity,-infinity,2000-01-01}', '{"1 day","-1 mons 00:00:00.000001"}',
  'it''s "quoted"', '{happy,sad,NULL}', 7, 'A@B.example', ROW(1, 'x,y'), '[1.5,2.5)',
  '16/B374D848', 4294967295, 'public.everything', 'a=>1, "b c"=>NULL', 'MiXeD', 'a name', 'x', '18446744073709551615'),
 (32767, -2147483648, 9223372036854775807,
  '123456789012345678901234567890.123456789012345678901234567890000', -999.5, '-Infinity', 'Infinity', 0,
  '', '', '     ', '', false, 'infinity', '00:00:00', '23:59:59.999999-15:59', 'infinity', '-infinity', '1999-12-31 23:59:59',
  '1 year 2 mons 3 days 04:05:06.000007', 'ffffffff-ffff-ffff-ffff-ffffffffffff', '[]', '[]', '', '0.0.0.0/0', '::/0',
  'ff:ff:ff:ff:ff:ff', 'ff:ff:ff:ff:ff:ff:ff:ff', B'0000', B'', '', '', '(1e300,-1e-300)', '{0,1,0}',
  '[(1,2),(3,4)]', '(0,0),(0,0)', '((0,0))', '((0,0))', '<(0,0),0>', 'empty', '[-1.5,1.5]', 'empty', '{}', '[2024-01-01,2024-02-01)',
  '{}', '[0:1][-1:0]={{1,2},{3,4}}', '[5:6]={x,y}', '{Infinity,-Infinity}', '{}', '{}', '{}', '{-0}', '{}', '{}', '{}', '{}', '{}',
  'sad', '{}', 2147483647, 'x@y', ROW(NULL, NULL), 'empty', '0/0', 0, 'pg_catalog.pg_class', '', '', '', E'\\001', '0'),
 (NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL,
  NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL,
  NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL,
  NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL),
 (1, 2, 3, '-0.000000000000000000000000000001', 0, 1.17549435e-38, 2.2250738585072014e-308, 1.5,
  repeat('long text ', 5000), 'x', 'a b', decode(repeat('00ff', 50000), 'hex'), NULL,
  '2000-02-29', '12:34:56.789', '12:34:56.789+05:30', '2000-02-29 12:34:56.789', '2000-02-29 12:34:56.789+02', '2000-01-01',
  '-1 days +00:00:01', 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', '{"n": 1.000000000000000000001, "s": "\u00e9\n"}',
  '{"n": 1.000000000000000000001, "deep": [[[]]]}', '<?xml version="1.0"?><r/>', '2001:db8::1', '2001:db8::/32',
  '01:02:03:04:05:06', '01:02:03:04:05:06:07:08', B'0001', B'10101010101', 'ü:1', 'ü:*', '(0.1,0.2)', '{1,2,3}', '[(0.1,0.2),(0.3,0.4)]',
  '(0.3,0.4),(0.1,0.2)', '((0.1,0.2),(0.3,0.4))', '((0.1,0.2),(0.3,0.4),(0.5,0.1))', '<(0.1,0.2),0.3>',
  '[-2147483648,2147483647)', '[0.1,0.2)', '("2000-01-01 00:00:00+00","2000-01-02 00:00:00+00"]', '{[1,2),[10,)}', '(,)',
  '{{{1}},{{2}}}', '{{NULL,NULL},{NULL,NULL}}', '{ü,"\\",NULL}', '{NULL}', '{NULL,"2000-01-01 00:00:00.000001+00"}',
  '{NULL}', '{NULL}', '{NULL}', '{NULL}', '{NULL}', '{NULL}', '{NULL}', '{NULL}',
  'ok', '{ok,ok}', 1, 'ü@ü', ROW(-1, ''), '[-Infinity,Infinity]', 'FFFFFFFF/FFFFFFFF', 1, '"Odd Schema".pair',
  '"ü"=>"\""', 'ü', 'ü', 'ü', '1');

INSERT INTO "Odd Schema"."Weird ""Table"" Name" ("select", "Column With Space", "ünïcödé")
  VALUES (1, 'a', 'Ä'), (2, NULL, 'b'), (-5, 'tab	in', NULL);

INSERT INTO public.customers VALUES (1, 'Ada', 'ada@example.com', NULL, 10.50), (2, 'Bob', NULL, 1, 0),
  (3, 'Cy "the" ''kid''', 'cy@example.com', 2, 12345.67);
INSERT INTO public.orders (customer_id, total, placed_at, during) VALUES
  (1, 99.99, '2024-01-01 00:00:00+00', '[1,5)'), (1, 150, '2024-01-02 00:00:00+00', '[5,9)'),
  (3, 1000.01, '2024-01-03 00:00:00+00', NULL);
INSERT INTO public.orders (id, customer_id, total, placed_at) VALUES (5000, 2, 1, '2024-01-04 00:00:00+00');
INSERT INTO public.scratch VALUES ('b', '{"x": 1}'), ('a', NULL), ('B', '[]');
INSERT INTO public.nokey VALUES (1, 'x'), (1, 'x'), (NULL, NULL), (2, 'y');
INSERT INTO public.textkey SELECT chr(c), c FROM generate_series(32, 1000) c WHERE chr(c) <> '';
INSERT INTO public.textkey VALUES ('ab', 1001), ('a b', 1002), ('zz', 1005), ('', 1006), ('é!', 1007);
INSERT INTO public.enumkey VALUES ('happy'), ('sad'), ('ok');
INSERT INTO public.compositekey VALUES (2, 'b', '2024-01-01'), (1, 'b', '2024-01-01'), (1, 'a', '2023-01-01'), (1, 'a', 'infinity');
INSERT INTO public.logins VALUES (1, '192.168.0.1', '192.168.0.0/16', '10.1.2.3/8'),
  (2, '::ffff:1.2.3.4/128', '2001:db8::/32', '::1'), (3, '0.0.0.0/0', '0.0.0.0/0', NULL),
  (4, 'fe80::1:2/64', '::/0', '255.255.255.255'), (5, '2001:db8:0:0:1::1', NULL, '::1.2.3.4'),
  (6, '10.0.0.7/31', '10.0.0.6/31', 'ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff/1');
INSERT INTO public.measurements SELECT i, DATE '2022-12-25' + i * 3, i / 7.0 FROM generate_series(1, 300) i;
SELECT nextval('public.counter'), nextval('public.counter');
REFRESH MATERIALIZED VIEW public.order_totals;
