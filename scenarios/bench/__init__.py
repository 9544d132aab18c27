"""`chaosgate bench`: the load engine measuring itself against Locust, k6 and wrk."""
