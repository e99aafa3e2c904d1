from django.apps import AppConfig


class BenchConfig(AppConfig):
    name = "relance.bench"
    label = "bench"
    verbose_name = "Benchmarks"
