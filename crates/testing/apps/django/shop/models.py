"""A small shop, the way a Django project would model it."""

from django.conf import settings
from django.db import models


class Category(models.Model):
    name = models.CharField(max_length=80, unique=True)
    parent = models.ForeignKey("self", null=True, blank=True, on_delete=models.SET_NULL, related_name="children")


class Tag(models.Model):
    name = models.SlugField(max_length=40, unique=True)


class Product(models.Model):
    class Status(models.TextChoices):
        DRAFT = "draft"
        LIVE = "live"
        GONE = "gone"

    name = models.CharField(max_length=200)
    slug = models.SlugField(max_length=200, unique=True)
    price = models.DecimalField(max_digits=10, decimal_places=2)
    status = models.CharField(max_length=8, choices=Status.choices, default=Status.DRAFT)
    category = models.ForeignKey(Category, on_delete=models.PROTECT, related_name="products")
    tags = models.ManyToManyField(Tag, blank=True)
    attributes = models.JSONField(default=dict)
    stock = models.PositiveIntegerField(default=0)
    created = models.DateTimeField(auto_now_add=True)
    uuid = models.UUIDField(unique=True)

    class Meta:
        indexes = [models.Index(fields=["status", "price"])]
        constraints = [models.CheckConstraint(condition=models.Q(price__gte=0), name="price_not_negative")]


class Image(models.Model):
    product = models.ForeignKey(Product, on_delete=models.CASCADE, related_name="images")
    url = models.URLField()
    position = models.PositiveSmallIntegerField()
    alt = models.TextField(blank=True, default="")

    class Meta:
        unique_together = [("product", "position")]


class Order(models.Model):
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="orders")
    placed = models.DateTimeField()
    note = models.TextField(null=True, blank=True)
    paid = models.BooleanField(default=False)


class OrderLine(models.Model):
    order = models.ForeignKey(Order, on_delete=models.CASCADE, related_name="lines")
    product = models.ForeignKey(Product, on_delete=models.PROTECT, related_name="+")
    quantity = models.PositiveIntegerField()
    unit_price = models.DecimalField(max_digits=10, decimal_places=2)
