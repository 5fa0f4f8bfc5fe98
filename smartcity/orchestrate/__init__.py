"""What the orchestration Lambda functions decide, free of Lambda plumbing.

The handlers in ``functions/`` only parse events, set up logging/metrics and build boto3 clients; every
decision (which crawler a new file needs, whether a crawl or a load must start again, what an alert says)
lives here so the local stack runs the very same code against moto (see ``local.py``).
"""
