"""Count the words of a text file: the Spark component's entry."""
import argparse

from helpers import words
from pyspark.sql import SparkSession

parser = argparse.ArgumentParser()
parser.add_argument("--input")
parser.add_argument("--min-count", type=int, default=1)
parser.add_argument("--output")
args = parser.parse_args()

spark = SparkSession.builder.getOrCreate()
lines = spark.read.text(args.input).rdd.map(lambda row: row[0])
counts = lines.flatMap(words).map(lambda w: (w, 1)).reduceByKey(lambda a, b: a + b)
counts.filter(lambda kv: kv[1] >= args.min_count).toDF(["word", "count"]).write.mode("overwrite").csv(args.output)
