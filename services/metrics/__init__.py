"""Analytics: reading each published post's figures on a decaying cadence and storing them.

What to call (for /stats and digests)
-------------------------------------
- `services.metrics.collect.collect_for_workspace(sources, workspace_id) -> CollectionReport`
  brings one workspace's figures up to date; call it right before building a digest so that
  the digest knows which platforms failed. It respects the cadence, so it is cheap when
  nothing is due (an outbox metrics.json edited by hand is always due). In a handler,
  `handlers.metrics.collect_workspace_metrics(app, workspace_id)` does the same from the App.
- `services.metrics.collect.collect(sources, workspace_id=None)` is the same for every
  workspace; the arq cron job `handlers.metrics.collect_metrics` runs it every 15 minutes.
- `CollectionReport`: `collected` and `skipped` (platform value → count of posts),
  `problems` (a tuple of `Problem`), `failed_platforms`, `problems_in(workspace_id)`,
  `summary()`. A `Problem` has `platform` (e.g. "tiktok"), `kind` (`ProblemKind.BUSY`: quota
  or rate limit, retried by the next run; `RECONNECT`: someone must /connect the account;
  `FAILED`: anything else), `reason`, `account` (display name), `workspace_id`, and `line()`:
  "TikTok (@cafe): figures not updated (busy): TikTok is busy (…)". Nothing is stored about
  failures: the report is the only record, and a failing platform's posts stay due, so the
  next call meets (and reports) the failure again.
- Figures themselves are `services.models.MetricSnapshot` rows: one per post per collection,
  `taken_at` the run's time, counts cumulative (the platforms report lifetime totals), and
  `watch_time_s` None where the platform gives none (YouTube's Data API, TikTok).

Modules: `collect` (cadence, grouping, storing, the report), `reading` (the `Due` and
`Figures` values and the `MetricsReader` protocol), and one reader per source: `youtube`,
`tiktok`, `meta` (Instagram and Facebook insights), `outbox` (metrics.json files).
"""
