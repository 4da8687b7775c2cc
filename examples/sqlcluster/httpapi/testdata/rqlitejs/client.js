// Drives a holeycow server through rqlite-js (a JavaScript rqlite client
// written by others): DataApiClient for writes, parameters, transactions
// and reads at each level; BackupApiClient for backup and load.
// rqlite-js has no call for queued writes, so they are not driven here
// (TestServer_pyrqlite covers them over plain HTTP).
//
// Usage: node client.js http://HOST:PORT. Exits non-zero on the first
// failed check.
'use strict'
const {
  DataApiClient,
  BackupApiClient,
} = require('rqlite-js')
const {
  CONSISTENCY_LEVEL_NONE,
  CONSISTENCY_LEVEL_WEAK,
  CONSISTENCY_LEVEL_STRONG,
  CONSISTENCY_LEVEL_LINEARIZABLE,
} = require('rqlite-js/lib/api/data')

const base = process.argv[2]
if (!base) {
  console.error('usage: node client.js http://HOST:PORT')
  process.exit(2)
}

function check (cond, what) {
  if (!cond) {
    console.error('FAIL: ' + what)
    process.exit(1)
  }
}

function noError (res, what) {
  check(!res.hasError(), what + ': ' + JSON.stringify(res.getFirstError() && res.getFirstError().toObject()))
}

async function readAll (resp) {
  // BackupApiClient returns the HTTP response as a stream.
  const stream = resp && resp.body && typeof resp.body.on === 'function' ? resp.body : resp
  const chunks = []
  for await (const c of stream) chunks.push(Buffer.from(c))
  return Buffer.concat(chunks)
}

async function count (data, level) {
  const res = await data.query('SELECT count(*) AS c FROM foo', level ? { level } : {})
  noError(res, 'count at ' + level)
  return res.get(0).get('c')
}

async function main () {
  const data = new DataApiClient(base)
  const backup = new BackupApiClient(base)

  // Writes, one statement and several in one request.
  let res = await data.execute('CREATE TABLE foo (id INTEGER NOT NULL PRIMARY KEY, name TEXT, n REAL)')
  noError(res, 'create table')
  res = await data.execute("INSERT INTO foo(name, n) VALUES('fiona', 1.5)")
  noError(res, 'insert')
  check(res.get(0).getLastInsertId() === 1, 'last_insert_id ' + res.get(0).getLastInsertId())
  check(res.get(0).getRowsAffected() === 1, 'rows_affected ' + res.get(0).getRowsAffected())

  // Parameterized statements: positional, and named.
  res = await data.execute([
    ['INSERT INTO foo(name, n) VALUES(?, ?)', 'declan', 2.0],
    ['INSERT INTO foo(name, n) VALUES(:name, :n)', { name: 'aoife', n: null }],
  ])
  noError(res, 'parameterized insert')
  check(res.results.length === 2 && res.get(1).getLastInsertId() === 3, 'parameterized ids ' + res.toString())

  res = await data.query([['SELECT name, n FROM foo WHERE id = ?', 1]])
  noError(res, 'parameterized select')
  check(res.get(0).get('name') === 'fiona' && res.get(0).get('n') === 1.5, 'row 1 ' + res.toString())
  res = await data.query([['SELECT id, n FROM foo WHERE name = :name', { name: 'aoife' }]])
  noError(res, 'named select')
  check(res.get(0).get('id') === 3 && res.get(0).get('n') === null, 'aoife ' + res.toString())
  res = await data.query('SELECT name FROM foo ORDER BY id')
  noError(res, 'select all')
  check(JSON.stringify(res.toArray()) === JSON.stringify([{ name: 'fiona' }, { name: 'declan' }, { name: 'aoife' }]),
    'all rows ' + res.toString())

  // An error in a statement comes back as a result error, not a throw.
  res = await data.query('SELECT * FROM nosuch')
  check(res.hasError() && /nosuch/.test(res.getFirstError().toString()), 'missing table error ' + res.toString())

  // Reads at each level rqlite-js names.
  for (const level of [CONSISTENCY_LEVEL_NONE, CONSISTENCY_LEVEL_WEAK, CONSISTENCY_LEVEL_STRONG, CONSISTENCY_LEVEL_LINEARIZABLE]) {
    const c = await count(data, level)
    check(c === 3, 'count at level ' + level + ': ' + c)
  }

  // A transaction: all or nothing.
  res = await data.execute([
    "INSERT INTO foo(name) VALUES('x')",
    'INSERT INTO nosuch VALUES(1)',
  ], { transaction: true })
  check(res.hasError(), 'failed transaction reports its error ' + res.toString())
  check(await count(data, CONSISTENCY_LEVEL_STRONG) === 3, 'failed transaction rolled back')
  res = await data.execute([
    "INSERT INTO foo(name) VALUES('t1')",
    "INSERT INTO foo(name) VALUES('t2')",
  ], { transaction: true })
  noError(res, 'transaction')
  check(await count(data, CONSISTENCY_LEVEL_STRONG) === 5, 'committed transaction')

  // Raw responses carry rqlite's JSON shape.
  const raw = await data.query('SELECT id FROM foo WHERE id = 1', { raw: true, level: CONSISTENCY_LEVEL_WEAK })
  check(raw.statusCode === 200 || raw.status === 200, 'raw status ' + (raw.statusCode || raw.status))
  const body = raw.body
  check(JSON.stringify(body.results[0].columns) === '["id"]' && JSON.stringify(body.results[0].values) === '[[1]]',
    'raw body ' + JSON.stringify(body))

  // Backup as SQL, wipe, load it back.
  const dump = (await readAll(await backup.backup('sql'))).toString()
  check(dump.includes('CREATE TABLE foo') && dump.includes('declan'), 'sql backup: ' + dump.slice(0, 200))
  const bin = await readAll(await backup.backup())
  check(bin.slice(0, 16).toString('latin1') === 'SQLite format 3\u0000', 'binary backup header ' + JSON.stringify(bin.slice(0, 16).toString('latin1')))
  res = await data.execute('DELETE FROM foo')
  noError(res, 'delete')
  check(await count(data, CONSISTENCY_LEVEL_STRONG) === 0, 'deleted')
  await readAll(await backup.load(dump))
  check(await count(data, CONSISTENCY_LEVEL_STRONG) === 5, 'rows after load')
  res = await data.query('SELECT name FROM foo WHERE id = 2', { level: CONSISTENCY_LEVEL_NONE })
  noError(res, 'select after load')
  check(res.get(0).get('name') === 'declan', 'row after load ' + res.toString())

  console.log('ok')
}

main().catch((err) => {
  console.error('FAIL: ' + (err && err.stack ? err.stack : err))
  process.exit(1)
})
