"""Built-in Azure roles: the one table that turns a role name into its role-definition id.

Role definition ids of built-in roles are the same in every subscription and tenant.
"""
from __future__ import annotations

import re

BUILTIN_ROLES: dict[str, str] = {
    "Owner": "8e3af657-a8ff-443c-a75c-2fe8c4bcb635",
    "Contributor": "b24988ac-6180-42a0-ab88-20f7382dd24c",
    "Reader": "acdd72a7-3385-48ef-bd42-f606fba81ae7",
    "User Access Administrator": "18d7d88d-d35e-4fb5-a5c3-7773c20a72d9",
    "Role Based Access Control Administrator": "f58310d9-a9f6-439a-9e8d-f62e7b41a168",
    "AzureML Data Scientist": "f6c7c914-8db3-469d-8ca1-694a8f32e121",
    "AzureML Compute Operator": "e503ece1-11d0-4e8e-8e2c-7a6c3bf38815",
    "AzureML Registry User": "1823dd4f-9b8c-4ab6-ab4e-7397a3684615",
    "AzureML Metrics Writer (preview)": "635dd51f-9968-44d3-b7fb-6d9a6bd613ae",
    # What a prompt flow deployment's endpoint identity needs to read the workspace connections.
    "Azure Machine Learning Workspace Connection Secrets Reader": "ea01e6af-a1c1-4350-9563-ad00f8c72ec5",
    "Azure AI Developer": "64702f94-c441-49e6-a78b-ef80e0188fee",
    "Storage Blob Data Reader": "2a2b9908-6ea1-4ae2-8e65-a410df84e7d1",
    "Storage Blob Data Contributor": "ba92f5b4-2d11-453d-a403-e96b0029c9fe",
    "Storage Blob Data Owner": "b7e6dc6d-f1e8-4753-8033-0f276bb0955b",
    "Storage File Data Privileged Contributor": "69566ab7-960f-475b-8e7c-b3118f30c6bd",
    "Key Vault Secrets User": "4633458b-17de-408a-b874-0445c86b69e6",
    "Key Vault Secrets Officer": "b86a8fe4-44ce-4948-aee5-eccb2c155cd7",
    "Key Vault Administrator": "00482a5a-887f-4fb3-b363-3b7fe8e74483",
    "AcrPull": "7f951dda-4ed3-4680-a7ca-43fe172d538d",
    "AcrPush": "8311e382-0749-4cb8-b61a-304f252e45ec",
    "Monitoring Metrics Publisher": "3913510d-42f4-4e42-8a64-420c390055eb",
    "Cognitive Services OpenAI User": "5e0bd9bd-7b93-4f28-af87-19fc36ad61bd",
    "Managed Identity Operator": "f1a07417-d97a-45cb-824c-7a7467783830",
}

_GUID = r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"
_ROLE_ID = re.compile(rf"^(?:(?:/subscriptions/[^/]+)?/providers/Microsoft\.Authorization/roleDefinitions/)?({_GUID})$",
                      re.IGNORECASE)


def role_definition_guid(role: str) -> str | None:
    """The role-definition GUID for a built-in role name, a GUID or a role-definition ARM id;
    None when the role is none of these."""
    if role in BUILTIN_ROLES:
        return BUILTIN_ROLES[role]
    m = _ROLE_ID.match(role.strip())
    return m.group(1).lower() if m else None


def role_name(guid: str) -> str | None:
    for name, g in BUILTIN_ROLES.items():
        if g == guid.lower():
            return name
    return None
