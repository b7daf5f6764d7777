from django.apps import AppConfig


class IngestConfig(AppConfig):
    name = "ingest"
    verbose_name = "CloudTrail ingestion"

    def ready(self) -> None:
        # Open the GeoIP databases at start-up so that a missing or corrupt
        # file stops the process with a clear message, not the first ingest.
        from ingest.geoip import network_lookup

        network_lookup()
