"""Writing side of Kindred: sources -> articles -> index versions and related tables."""
