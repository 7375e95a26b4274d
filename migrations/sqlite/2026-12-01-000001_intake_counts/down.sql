DROP TABLE intake_counts;
