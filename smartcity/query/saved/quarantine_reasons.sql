-- Question: Why were messages quarantined: how many per topic, ingest hour and reason kind (the part of the error before ':')?
SELECT
  topic,
  date_trunc('hour', ingest_time) AS ingest_hour,
  split_part(error, ':', 1) AS reason,
  count(*) AS messages
FROM quarantine
GROUP BY topic, date_trunc('hour', ingest_time), split_part(error, ':', 1)
ORDER BY topic, ingest_hour, reason
