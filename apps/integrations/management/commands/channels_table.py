from django.core.management.base import BaseCommand

from apps.integrations.channels_table import channels_table, readme_path, readme_with_table


class Command(BaseCommand):
    help = "Print the channels table from the connectors' capabilities, or --write it into README.md."

    def add_arguments(self, parser):
        parser.add_argument("--write", action="store_true", help="Rewrite the table block in README.md.")

    def handle(self, *args, write: bool = False, **options):
        if not write:
            self.stdout.write(channels_table())
            return
        path = readme_path()
        path.write_text(readme_with_table(path.read_text(encoding="utf-8")), encoding="utf-8")
        self.stdout.write(f"Wrote the channels table into {path}")
