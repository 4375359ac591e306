"""Domain core: plain functions and small classes over DataFrames. No Dagster import here."""
