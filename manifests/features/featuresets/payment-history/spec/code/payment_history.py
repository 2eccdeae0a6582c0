"""Payment behaviour of each customer over 30 and 90 days (a Spark ML transformer)."""
from pyspark.ml import Transformer
from pyspark.sql import DataFrame, Window
from pyspark.sql import functions as F

DAY = 86400


class PaymentHistoryTransformer(Transformer):
    def _transform(self, df: DataFrame) -> DataFrame:
        def window(days: int) -> Window:
            return (Window.partitionBy("customer_id").orderBy(F.col("paid_at").cast("long"))
                    .rangeBetween(-days * DAY, 0))
        return df.select(
            "customer_id", "paid_at",
            F.count("amount").over(window(30)).alias("payments_30d_count"),
            F.avg(F.col("days_late").gt(0).cast("double")).over(window(30)).alias("payments_30d_late_ratio"),
            F.sum("amount").over(window(90)).alias("payments_90d_amount_sum"),
        )
