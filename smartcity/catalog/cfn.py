"""The template's crawlers, generated from the lake tables: per table an S3-event queue, its policy, crawler.

``template.yaml`` holds the blocks between the marker lines below (the resources, and the data bucket's
notifications to the queues); ``tests/unit/test_template_blocks.py``
fails when it differs from what ``LAKE_TABLES`` generates. Regenerate every generated block with

    python -m smartcity.template_blocks --write template.yaml

Not ``Fn::ForEach``: ``sam build`` cannot read it and checkov skips what it declares (decision 0012).
"""

from __future__ import annotations

import json

from smartcity.catalog.exclusions import CRAWLER_EXCLUSIONS
from smartcity.catalog.tables import LAKE_TABLES, LakeTable
from smartcity.lake_layout import crawler_name

BEGIN = "  # >>> lake table crawlers"
END = "  # <<< lake table crawlers"
# Inside DataBucket's NotificationConfiguration: which new objects each crawler queue hears of.
NOTIFICATIONS_BEGIN = "          # >>> lake table crawler notifications"
NOTIFICATIONS_END = "          # <<< lake table crawler notifications"
# Crawlers are named after the stack: the stack's name, a dash, the table folder (CRAWLER_PREFIX).
STACK_PREFIX = "${AWS::StackName}-"
# The data bucket's name, as DataBucket computes it; the queue policies name it to avoid a circular reference.
BUCKET_ARN = (
    '"arn:${AWS::Partition}:s3:::smartcity-${Environment}-${AWS::AccountId}-${AWS::Region}-${StackSuffix}"'
)
STACK_SUFFIX = '!Select [0, !Split ["-", !Select [2, !Split ["/", !Ref AWS::StackId]]]]'
# One table per folder, columns merged, partitions inheriting the table's schema (docs/catalog.md).
CONFIGURATION = (
    '{"Version": 1.0, "CrawlerOutput": {"Partitions": {"AddOrUpdateBehavior": "InheritFromTable"},',
    '"Tables": {"AddOrUpdateBehavior": "MergeNewColumns"}},',
    '"Grouping": {"TableGroupingPolicy": "CombineCompatibleSchemas"}}',
)
SSE_SQS_SKIP_REASON = (
    "Encrypted with SSE-SQS (SqsManagedSseEnabled), which checkov does not recognise; the AWS-managed aws/sqs"
    " KMS key cannot be used because its key policy does not let S3 or EventBridge send."
)


def logical_id(table: LakeTable) -> str:
    """The stem of the table's resource ids: ``raw_vehicle`` → ``RawVehicle`` (``RawVehicleCrawler``, ...)."""
    return "".join(part.capitalize() for part in table.name.split("_"))


def _queue(stem: str) -> list[str]:
    return [
        f"  {stem}CrawlerQueue:",
        "    Type: AWS::SQS::Queue",
        "    Metadata:",
        "      checkov:",
        "        skip:",
        "          - id: CKV_AWS_27",
        f"            comment: {SSE_SQS_SKIP_REASON}",
        "    Properties:",
        "      SqsManagedSseEnabled: true",
        "      MessageRetentionPeriod: 1209600",
        "",
    ]


def _queue_policy(stem: str) -> list[str]:
    arn = f"!GetAtt {stem}CrawlerQueue.Arn"
    return [
        f"  {stem}CrawlerQueuePolicy:",
        "    Type: AWS::SQS::QueuePolicy",
        "    Properties:",
        f"      Queues: [!Ref {stem}CrawlerQueue]",
        "      PolicyDocument:",
        '        Version: "2012-10-17"',
        "        Statement:",
        "          - Sid: S3Events",
        "            Effect: Allow",
        "            Principal: {Service: s3.amazonaws.com}",
        "            Action: sqs:SendMessage",
        f"            Resource: {arn}",
        "            Condition:",
        "              ArnEquals:",
        "                aws:SourceArn: !Sub",
        f"                  - {BUCKET_ARN}",
        f"                  - StackSuffix: {STACK_SUFFIX}",
        "              StringEquals: {aws:SourceAccount: !Ref AWS::AccountId}",
        "          - Sid: TlsOnly",
        "            Effect: Deny",
        '            Principal: "*"',
        "            Action: sqs:*",
        f"            Resource: {arn}",
        "            Condition:",
        '              Bool: {aws:SecureTransport: "false"}',
        "",
    ]


def _crawler(stem: str, table: LakeTable) -> list[str]:
    prefix = [f"      TablePrefix: {table.table_prefix}"] if table.table_prefix else []
    return [
        f"  {stem}Crawler:",
        "    Type: AWS::Glue::Crawler",
        "    Properties:",
        f'      Name: !Sub "{crawler_name(STACK_PREFIX, table.path)}"',
        "      Role: !GetAtt CrawlerRole.Arn",
        "      CrawlerSecurityConfiguration: !Ref GlueSecurityConfiguration",
        "      DatabaseName: !Ref GlueDatabase",
        *prefix,
        "      Targets:",
        "        S3Targets:",
        f'          - Path: !Sub "s3://${{DataBucket}}/${{LakePrefix}}{table.path}/"',
        f"            EventQueueArn: !GetAtt {stem}CrawlerQueue.Arn",
        f"            Exclusions: {json.dumps(list(CRAWLER_EXCLUSIONS))}",
        "      RecrawlPolicy:",
        "        RecrawlBehavior: CRAWL_EVENT_MODE",
        "      SchemaChangePolicy:",
        "        UpdateBehavior: UPDATE_IN_DATABASE",
        "        DeleteBehavior: LOG",
        "      Configuration: >-",
        *(f"        {line}" for line in CONFIGURATION),
        "",
    ]


def crawler_resources() -> str:
    """The YAML of every table's queue, queue policy and crawler, between the markers."""
    lines = [BEGIN]
    for table in LAKE_TABLES:
        stem = logical_id(table)
        lines += _queue(stem) + _queue_policy(stem) + _crawler(stem, table)
    lines[-1] = END
    return "\n".join(lines)


def notification_configurations() -> str:
    """The data bucket's ``QueueConfigurations`` items: a new object under a table's folder → its queue."""
    lines = [NOTIFICATIONS_BEGIN]
    for table in LAKE_TABLES:
        lines += [
            "          - Event: s3:ObjectCreated:*",
            f"            Queue: !GetAtt {logical_id(table)}CrawlerQueue.Arn",
            "            Filter:",
            "              S3Key:",
            "                Rules:",
            "                  - Name: prefix",
            f'                    Value: !Sub "${{LakePrefix}}{table.path}/"',
        ]
    return "\n".join([*lines, NOTIFICATIONS_END])
