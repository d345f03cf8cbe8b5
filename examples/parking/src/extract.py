"""Step 2 of the parking example: parse the downloaded CSV into parking records."""

import csv
import io


def _number(text, kind):
    text = (text or "").strip()
    return kind(text) if text else None


def extract(di):
    """`di` is the path of the `dataset` artifact of step 1; returns the `parkings` output (JSON)."""
    text = di.read_text(encoding="utf-8-sig")
    parkings = []
    for row in csv.DictReader(io.StringIO(text)):
        parkings.append(
            {
                "id": row["id"],
                "name": row["name"],
                "address": row["address"],
                "lat": _number(row["lat"], float),
                "lon": _number(row["lon"], float),
                "slots": _number(row["slots"], int),
                "free_slots": _number(row["free_slots"], int),
                "type": row["type"],
            }
        )
    return {"parkings": parkings}
