"""File downloads the routes hand back (CSV statements, the loan tape)."""

from fastapi import Response

CSV_RESPONSES = {200: {"content": {"text/csv": {}}}}


def csv_download(body: str | bytes, filename: str) -> Response:
    return Response(body, media_type="text/csv", headers={"Content-Disposition": f'attachment; filename="{filename}"'})
