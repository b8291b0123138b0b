#!/usr/bin/env python3
"""botocore (the image's python3) as a second client of the CloudTrail fake:
every event of a lookup, through botocore's own paginator, as one JSON list
of [EventId, EventName, Username, EventTime (epoch), userIdentity.type].

    python3 tests/support/cloudtrail_botocore.py ENDPOINT PAGE_SIZE [KEY VALUE [START END]]

A service error prints "error CODE" and exits 3.
"""
import json
import sys

import botocore.exceptions
import botocore.session


def main():
    endpoint, page_size = sys.argv[1], int(sys.argv[2])
    client = botocore.session.get_session().create_client("cloudtrail", region_name="us-east-1",
                                                           endpoint_url=endpoint)
    args = {"PaginationConfig": {"PageSize": page_size}}
    if len(sys.argv) > 4:
        args["LookupAttributes"] = [{"AttributeKey": sys.argv[3], "AttributeValue": sys.argv[4]}]
    if len(sys.argv) > 6:
        args["StartTime"], args["EndTime"] = float(sys.argv[5]), float(sys.argv[6])
    out = []
    try:
        for page in client.get_paginator("lookup_events").paginate(**args):
            for e in page["Events"]:
                record = json.loads(e["CloudTrailEvent"])
                out.append([e["EventId"], e["EventName"], e.get("Username"), e["EventTime"].timestamp(),
                            record["userIdentity"]["type"]])
    except botocore.exceptions.ClientError as err:
        print("error", err.response["Error"]["Code"])
        sys.exit(3)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
