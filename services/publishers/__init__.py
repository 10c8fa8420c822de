"""One module per publishing platform, each behind services.publishing.Publisher."""
