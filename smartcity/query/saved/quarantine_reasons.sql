-- Question: Why were messages quarantined: how many per topic, ingest hour and reason kind (the part of the error before ':')?
-- Parameter: first_day date: the first UTC ingest day read (the quarantine's dt partition)
-- Parameter: last_day date: the last UTC ingest day read, included
SELECT
  topic,
  date_trunc('hour', ingest_time) AS ingest_hour,
  split_part(error, ':', 1) AS reason,
  count(*) AS messages
FROM quarantine
WHERE dt BETWEEN CAST(CAST(? AS date) AS varchar) AND CAST(CAST(? AS date) AS varchar)
GROUP BY topic, date_trunc('hour', ingest_time), split_part(error, ':', 1)
ORDER BY topic, ingest_hour, reason
