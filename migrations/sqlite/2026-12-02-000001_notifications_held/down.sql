UPDATE notifications SET next_attempt_at = strftime('%Y-%m-%d %H:%M:%S.000000', 'now')
WHERE status = 'PENDING' AND next_attempt_at = '9999-12-31 00:00:00.000000';
